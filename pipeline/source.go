package pipeline

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// source is a compiled source as a run reads it: its targets, each with
// the table it writes, and the counters of what became of its records.
type source struct {
	*plan.Source
	targets []*target // as Source.Targets

	read, decodeErrs, timeErrs, rebals atomic.Int64
	registryRetries                    atomic.Int64 // decodes repeated in a registry outage
	offsetResets, retentionSkipped     atomic.Int64 // committed offsets out of range, records never read
	generation                         atomic.Int64 // last consumer group generation seen; -1 none
	sessions                           atomic.Int32 // open consumer group sessions
}

// target is what a source contributes to one materialization, with the
// table the materialization writes and the counters of its records.
type target struct {
	*plan.Target
	name  string // the materialization's
	table *sink.Table

	written, skipped, dead, keyErrs, fnErrs atomic.Int64
	late                                    atomic.Int64 // events late for an aggregated feature (aggEvent)
}

// newSource returns the run's view of src; tables holds the table of each
// materialization, shared by every source that feeds it.
func newSource(src *plan.Source, tables map[*plan.Materialization]*sink.Table) *source {
	s := &source{Source: src}
	s.generation.Store(-1)
	for _, t := range src.Targets {
		m := t.Materialization
		tbl := tables[m]
		if tbl == nil {
			tbl = newTable(m)
			tables[m] = tbl
		}
		s.targets = append(s.targets, &target{Target: t, name: m.Config.Name, table: tbl})
	}
	return s
}

// targetOf returns the target that writes table, or nil.
func (s *source) targetOf(table *sink.Table) *target {
	for _, t := range s.targets {
		if t.table == table {
			return t
		}
	}
	return nil
}

// observeGeneration counts a rebalance when sess is of a generation this
// source did not see yet. With an eager strategy every rebalance starts a
// session; with a cooperative one the session stays and its generation
// changes, which claims starting or stopping notice.
func (s *source) observeGeneration(sess sarama.ConsumerGroupSession) {
	g := int64(sess.GenerationID())
	for {
		old := s.generation.Load()
		if g <= old {
			return
		}
		if s.generation.CompareAndSwap(old, g) {
			s.rebals.Add(1)
			return
		}
	}
}

// countFailed counts a bad record that policy let through in target t, or
// in every target when t is nil (the record could not be decoded).
func (s *source) countFailed(t *target, policy config.OnError) {
	if t == nil {
		for _, t := range s.targets {
			s.countFailed(t, policy)
		}
		return
	}
	switch policy {
	case config.DeadLetter:
		t.dead.Add(1)
	case config.Skip:
		t.skipped.Add(1)
	}
}

// targetAcker counts a target's written records on their way to the
// partition's tracker.
type targetAcker struct {
	t *tracker
	c *target
}

func (a *targetAcker) Ack(seq int64) { a.AckAt(seq, time.Time{}) }

// AckAt implements sink.AckTimer: the tracker times freshness at the
// batch's ack.
func (a *targetAcker) AckAt(seq int64, at time.Time) {
	a.c.written.Add(1)
	a.t.AckAt(seq, at)
}

// Revoked implements sink.Revoker, for the partition's tracker.
func (a *targetAcker) Revoked() bool { return a.t.Revoked() }

// newTable returns the table materialization m writes, with its
// aggregated features.
func newTable(m *plan.Materialization) *sink.Table {
	aggs := make([]sink.AggFeature, len(m.Aggregations))
	for i, f := range m.Aggregations {
		aggs[i] = sink.AggFeature{Name: f.Name, Spec: f.Agg.Spec, Type: f.Type}
	}
	rows := slices.DeleteFunc(slices.Clone(m.Config.Features), func(name string) bool {
		return slices.ContainsFunc(aggs, func(a sink.AggFeature) bool { return a.Name == name })
	})
	tbl, err := sink.NewTable(m.Config.Name, m.Config.Sink, rows, aggs...)
	if err != nil {
		// plan checked every aggregation as sink does.
		panic(fmt.Sprintf("pipeline: materialization %s: %v", m.Config.Name, err))
	}
	return tbl
}
