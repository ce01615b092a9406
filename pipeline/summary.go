package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/feathrgo/feathr/internal/hist"
)

// ErrInterrupted is the cause to cancel a run's context with when the
// process is told to stop (SIGINT, SIGTERM): the run ends as for any
// cancellation, and its summary says "signal".
var ErrInterrupted = errors.New("interrupted")

// Summary is what a run did, printed as one JSON line at exit.
type Summary struct {
	Materializations []string `json:"materializations"`
	Stats
	KeysWritten  int64 `json:"keys_written"`
	StaleSkipped int64 `json:"stale_updates_skipped"`
	RedisBatches int64 `json:"redis_batches"`
	RedisRetries int64 `json:"redis_retries"`
	// UpdatesDropped are updates of partitions given up unwritten (their
	// flush at a revocation failed): their records are read again by the
	// partitions' next owners.
	UpdatesDropped int64 `json:"updates_dropped"`
	// The aggregations' counts, absent when zero: events late by the
	// wall clock (not sent), and what the aggregation script did: events
	// applied, duplicates skipped (applied before: a replay, a retry,
	// another consumer group), vectors of another length rejected, rows
	// found late when the script ran.
	LateDropped     int64   `json:"late_events_dropped,omitempty"`
	AggApplied      int64   `json:"agg_events_applied,omitempty"`
	AggDuplicates   int64   `json:"agg_duplicates_skipped,omitempty"`
	AggRejected     int64   `json:"agg_vectors_rejected,omitempty"`
	AggLate         int64   `json:"agg_late_rows,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	RecordsPerSec   float64 `json:"records_per_second"`
	// Freshness is the time from a record's Kafka timestamp to Redis
	// acknowledging its updates, over the records written; absent when
	// none was (and in a dry run).
	Freshness *hist.Quantiles `json:"freshness_ms,omitempty"`
	// FreshnessSplit divides Freshness, for every 64th timed record of
	// each partition, at the moment its updates were handed to the
	// writer; absent when no record was sampled.
	FreshnessSplit *FreshnessSplit `json:"freshness_split_ms,omitempty"`
	DryRun         bool            `json:"dry_run,omitempty"`
	// Stopped is why the run ended: timeout, caught-up, signal, rows (a
	// dry run printed its rows), error or canceled.
	Stopped string `json:"stopped"`
	Error   string `json:"error,omitempty"`
}

// Summary returns the summary of the run, which took elapsed and ended
// with err, as Run or DryRun returned it.
func (p *Pipeline) Summary(elapsed time.Duration, err error) Summary {
	s := Summary{
		Materializations: p.opts.Plan.Names(),
		Stats:            p.Stats(),
		DurationSeconds:  elapsed.Seconds(),
		Freshness:        p.fresh.Summary(),
		FreshnessSplit:   p.freshSplit.summary(),
		DryRun:           p.dryRun,
		Stopped:          p.stopped(err),
	}
	if w := p.opts.Writer; w != nil && !p.dryRun {
		ws := w.Stats()
		s.KeysWritten, s.StaleSkipped, s.RedisBatches, s.RedisRetries = ws.Writes, ws.Stale, ws.Batches, ws.Retries
		s.UpdatesDropped = ws.Dropped
		s.AggApplied, s.AggDuplicates, s.AggRejected, s.AggLate = ws.AggApplied, ws.AggDuplicates, ws.AggRejected, ws.AggLate
	}
	for _, src := range p.sources {
		for _, t := range src.targets {
			s.LateDropped += t.late.Load()
		}
	}
	if elapsed > 0 {
		s.RecordsPerSec = float64(s.Read) / elapsed.Seconds()
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// stopped names why the run ended, from its error and the first cause of
// its context's end.
func (p *Pipeline) stopped(err error) string {
	p.mu.Lock()
	cause := p.cause
	p.mu.Unlock()
	switch {
	case err != nil:
		return "error"
	case errors.Is(cause, ErrInterrupted):
		return "signal"
	case errors.Is(cause, errDryRunDone):
		return "rows"
	case errors.Is(cause, errCaughtUp):
		return "caught-up"
	case errors.Is(cause, context.DeadlineExceeded):
		return "timeout"
	}
	return "canceled"
}

// FreshnessSplit is where a sample of the written records spent their
// freshness, in milliseconds: ToWriter from the Kafka timestamp to the
// partition handing the record's updates to the writer (the broker's
// wait for the fetch, sarama's fetch and channel, decoding and the
// transforms), InWriter from there to Redis acknowledging the last of
// them (the batch's wait, the writes in flight before it, Redis).
type FreshnessSplit struct {
	Sampled  uint64          `json:"sampled"`
	ToWriter *hist.Quantiles `json:"to_writer"`
	InWriter *hist.Quantiles `json:"in_writer"`
}

// freshSplit holds the histograms of FreshnessSplit.
type freshSplit struct{ toWriter, inWriter hist.Histogram }

// observe counts one sampled record (tracker.split).
func (f *freshSplit) observe(toWriter, inWriter time.Duration) {
	f.toWriter.Observe(toWriter)
	f.inWriter.Observe(inWriter)
}

// summary returns the split, or nil when no record was sampled.
func (f *freshSplit) summary() *FreshnessSplit {
	if f.toWriter.Count() == 0 {
		return nil
	}
	return &FreshnessSplit{Sampled: f.toWriter.Count(), ToWriter: f.toWriter.Summary(), InWriter: f.inWriter.Summary()}
}
