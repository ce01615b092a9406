// Package pipeline runs a compiled plan: Kafka in, updates out.
//
// Run joins one Kafka consumer group per source and reads each claimed
// partition in order; DryRun reads the same partitions without a group
// and prints the updates instead of writing them. Both hand every message
// to one record path (record.go: decode → event time → each target's key
// and features → encoded values; aggrecord.go: each aggregated feature's
// input, late events dropped, into the update's aggregate event with the
// message's topic, partition and offset), apply the materialization's on_error
// policy to a bad record in one place (partition.go), and mark an offset
// for commit only once the writer acknowledged every update at or below
// it (tracker.go).
//
// The files: pipeline.go (Run, the run's counters and its end),
// group.go (the consumer group handler: assignment, revocation),
// partition.go (one partition's messages, the policies), record.go (the
// record path), aggrecord.go (its aggregations), source.go (a source's
// targets and counters), tracker.go (offsets, marked once written),
// offsets.go (committed offsets: a new partition's start, those out of
// range, the readable end), catchup.go (until caught up), dryrun.go,
// kafka.go (the Kafka client's configuration and security),
// deadletter.go, strategy.go (rebalance strategies), observe.go (stats
// for metrics, freshness), limit.go (rate-limited logs), summary.go (the
// exit summary).
//
// pipeline imports plan, decode, transform, record, sink, window, config and
// internal/backoff, internal/hist, internal/tlsconf; cmd and metrics
// import it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/hist"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// Writer takes the updates of consumed records and acknowledges each
// (sink.Update.Acker) once it is durable; *sink.Writer is one. It is
// closed by its owner after the run.
type Writer interface {
	// Submit queues an update; it blocks while the writer is full.
	Submit(ctx context.Context, u sink.Update) error
	// Flush waits until every update submitted before it is acknowledged.
	Flush(ctx context.Context) error
	// Failed is closed when the writer stopped for good; Err says why.
	Failed() <-chan struct{}
	Err() error
	// Stats are the writer's counters, for the summary.
	Stats() sink.WriterStats
}

// Options configure a run.
type Options struct {
	Plan   *plan.Plan
	Writer Writer // Run only; a dry run prints instead
	Logger *slog.Logger
	// Start overrides where a consumer group without committed offsets
	// begins; zero keeps each source's setting.
	Start config.Start
	// UntilCaughtUp stops the run once every assigned partition reached the
	// high watermark it had when it was assigned, and all of it is written.
	UntilCaughtUp bool
	// CommitInterval is how often marked offsets are committed (default 1s).
	// They are also committed on rebalance and at the end of the run.
	CommitInterval time.Duration
	// ShutdownTimeout bounds the end of a run, from the moment its
	// context is done to Run's return (default 30s): the final flush and
	// commit, and a consumer group caught in a rebalance. Writes not
	// acknowledged by then are not committed, and are read again.
	ShutdownTimeout time.Duration
	// Strategy is the consumer group rebalance strategy, one of
	// Strategies (default "range"), or a comma-separated list of them in
	// order of preference.
	Strategy string
	// StartTimeout bounds the first connection to each source's brokers
	// (default 30s): a broker that accepts connections and never answers
	// would otherwise hold the start for minutes of sarama's retries.
	StartTimeout time.Duration
}

// Stats are a run's counters, safe to read while it runs.
type Stats struct {
	Read         int64 `json:"records_read"`
	Written      int64 `json:"updates_written"`
	Skipped      int64 `json:"records_skipped"`
	Errors       int64 `json:"record_errors"`
	DeadLettered int64 `json:"records_dead_lettered"`
	Lag          int64 `json:"lag"`
}

// Pipeline is one run of a plan.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	errLog *limitedLogger
	// outageLog logs the waits of partitions on the schema registry.
	outageLog *limitedLogger
	dryRun    bool // set by DryRun: nothing is written, dead-lettered or committed

	read, written, skipped, errs, dead atomic.Int64
	// fresh times each written record from its Kafka timestamp to Redis
	// acknowledging its last update (Run only).
	fresh hist.Histogram
	// freshSplit divides fresh, for a sample of the records.
	freshSplit freshSplit

	sources []*source // as Plan.Sources

	mu         sync.Mutex
	partitions map[*partition]bool
	catchUp    catchUp
	caughtUp   atomic.Bool
	stop       context.CancelCauseFunc
	cause      error // why the run's context ended, once it did
	// shutdownBy is when the run must have ended (Unix nanoseconds), set
	// once its context is done; 0 before.
	shutdownBy atomic.Int64
}

// New prepares a run of opts.Plan.
func New(opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	p := &Pipeline{
		opts:       opts,
		log:        opts.Logger,
		errLog:     newLimitedLogger(opts.Logger, 10, 10*time.Second, "bad records not logged in the last period (see the counts in the summary)"),
		outageLog:  newLimitedLogger(opts.Logger, 5, 10*time.Second, "schema registry waits not logged in the last period"),
		partitions: map[*partition]bool{},
		catchUp:    catchUp{joined: map[*source]bool{}, parts: map[sourcePartition]bool{}},
	}
	if opts.Plan != nil {
		tables := map[*plan.Materialization]*sink.Table{}
		for _, src := range opts.Plan.Sources {
			p.sources = append(p.sources, newSource(src, tables))
		}
	}
	return p
}

// Stats returns the run's counters so far.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Read: p.read.Load(), Written: p.written.Load(), Skipped: p.skipped.Load(),
		Errors: p.errs.Load(), DeadLettered: p.dead.Load(),
	}
	p.mu.Lock()
	for pt := range p.partitions {
		s.Lag += pt.lag()
	}
	p.mu.Unlock()
	return s
}

// Freshness is the histogram of produce-to-store freshness: for each
// record whose updates were all acknowledged by Redis, the time from its
// Kafka timestamp to that acknowledgement. Records that produced no update
// and records without a timestamp are not timed; nor is a dry run.
func (p *Pipeline) Freshness() *hist.Histogram { return &p.fresh }

// FreshnessSplit are the histograms of the summary's FreshnessSplit, for
// every 64th timed record of each partition: from the Kafka timestamp
// to the record's updates handed to the writer, and from there to
// Redis's ack of the last of them.
func (p *Pipeline) FreshnessSplit() (toWriter, inWriter *hist.Histogram) {
	return &p.freshSplit.toWriter, &p.freshSplit.inWriter
}

// errCaughtUp is the cause of a run's end with UntilCaughtUp.
var errCaughtUp = errors.New("caught up")

// Run consumes until ctx is done, the run caught up (UntilCaughtUp), or a
// record error under on_error: stop or a fatal sink error ends it. It stops
// fetching, writes and acknowledges what is in flight, commits, and returns
// nil for an ordinary end.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.stop = cancel

	var groups []sarama.ConsumerGroup
	var clients []sarama.Client
	defer func() {
		for _, g := range groups {
			if err := g.Close(); err != nil {
				p.log.Warn("closing consumer group", "err", err)
			}
		}
		for _, c := range clients {
			c.Close()
		}
	}()
	// Every source connects before any consumer starts: a source that
	// cannot connect ends the run with nothing running that would need
	// to be stopped and waited for.
	handlers := make([]*handler, len(p.sources))
	for i, src := range p.sources {
		cfg, err := saramaConfig(src.Config, p.opts.Start, p.opts.CommitInterval)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		strategies, err := balanceStrategies(p.opts.Strategy)
		if err != nil {
			return err
		}
		cfg.Consumer.Group.Rebalance.GroupStrategies = strategies
		client, err := connect(ctx, src.Config, cfg, p.opts.StartTimeout)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		clients = append(clients, client)
		group, err := sarama.NewConsumerGroupFromClient(src.Config.Kafka.Group, client)
		if err != nil {
			return fmt.Errorf("source %s: joining consumer group %s: %w", src.Config.Name, src.Config.Kafka.Group, err)
		}
		groups = append(groups, group)
		h := &handler{p: p, src: src, client: client}
		if src.NeedsDeadLetter() {
			dl, err := newDeadLetter(src.Config, cfg)
			if err != nil {
				return fmt.Errorf("source %s: dead-letter producer: %w", src.Config.Name, err)
			}
			defer dl.Close()
			h.dl = dl
		}
		handlers[i] = h
	}
	var consumers, drains sync.WaitGroup
	for i, src := range p.sources {
		group, h := groups[i], handlers[i]
		drains.Go(func() {
			// While a broker is down, sarama reports an error per
			// partition every retry: rate-limited, so an outage of many
			// partitions cannot flood the log.
			kafkaLog := newKafkaLogger(p.log)
			for err := range group.Errors() {
				kafkaLog.log("kafka", "source", src.Config.Name, "err", err)
			}
		})
		consumers.Go(func() { p.consume(ctx, group, src, h) })
	}
	p.watchWriter(ctx)
	<-ctx.Done()
	p.shutdownBy.Store(time.Now().Add(p.opts.ShutdownTimeout).UnixNano())
	// Each session flushes the writer and commits in Cleanup before its
	// Consume returns; then the groups close, which ends their error
	// channels. A group in a rebalance may not answer for the rebalance
	// timeout (a minute): the shutdown timeout bounds all of it.
	closeGroups := groups
	groups = nil
	done := make(chan struct{})
	go func() {
		defer close(done)
		consumers.Wait()
		for _, g := range closeGroups {
			if err := g.Close(); err != nil {
				p.log.Warn("closing consumer group", "err", err)
			}
		}
		drains.Wait()
	}()
	t := time.NewTimer(p.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.log.Error("shutdown timeout: exiting before the consumer groups ended; records not committed will be read again", "shutdown_timeout", p.opts.ShutdownTimeout)
	}
	return p.end(ctx)
}

// flushTimeout bounds a session's final flush: by the shutdown timeout,
// and once the run is ending by what is left of it, less a margin for
// the commit that follows.
func (p *Pipeline) flushTimeout() time.Duration {
	by := p.shutdownBy.Load()
	if by == 0 {
		return p.opts.ShutdownTimeout
	}
	margin := min(5*time.Second, p.opts.ShutdownTimeout/4)
	return max(time.Until(time.Unix(0, by))-margin, 0)
}

// watchWriter ends the run when the writer fails for good.
func (p *Pipeline) watchWriter(ctx context.Context) {
	w := p.opts.Writer
	if w == nil {
		return
	}
	go func() {
		select {
		case <-w.Failed():
			p.fail(fmt.Errorf("redis: %w", w.Err()))
		case <-ctx.Done():
		}
	}()
}

// end records why the run's context ended and returns the error the run
// ends with: nil for an ordinary end (canceled, interrupted, the deadline,
// caught up, a dry run's rows printed), else the cause.
func (p *Pipeline) end(ctx context.Context) error {
	cause := context.Cause(ctx)
	p.mu.Lock()
	p.cause = cause
	p.mu.Unlock()
	for _, ordinary := range []error{context.Canceled, ErrInterrupted, context.DeadlineExceeded, errCaughtUp, errDryRunDone} {
		if errors.Is(cause, ordinary) {
			return nil
		}
	}
	return cause
}

// newKafkaLogger rate-limits the Kafka client's errors: while a broker is
// down, each partition reports one every retry.
func newKafkaLogger(log *slog.Logger) *limitedLogger {
	return newLimitedLogger(log, 5, 10*time.Second, "kafka errors not logged in the last period")
}

// newClient connects to brokers as sarama.NewClient does, giving up after
// timeout or when ctx is done; a client that connects later is closed.
func newClient(ctx context.Context, brokers []string, cfg *sarama.Config, timeout time.Duration) (sarama.Client, error) {
	type result struct {
		c   sarama.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(brokers, cfg)
		done <- result{c, err}
	}()
	abandon := func() {
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.c, r.err
	case <-t.C:
		abandon()
		return nil, fmt.Errorf("no broker answered within %v", timeout)
	case <-ctx.Done():
		abandon()
		return nil, context.Cause(ctx)
	}
}

// consume runs the group's sessions one after another (a rebalance ends
// one) until ctx is done, backing off after errors.
func (p *Pipeline) consume(ctx context.Context, group sarama.ConsumerGroup, src *source, h *handler) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := group.Consume(ctx, src.Config.Kafka.Topics, h)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil {
			p.log.Warn("kafka consumer group session ended; retrying", "source", src.Config.Name, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// partitionStarted registers a partition's consumer for the run's stats.
func (p *Pipeline) partitionStarted(pt *partition) {
	p.mu.Lock()
	p.partitions[pt] = true
	p.mu.Unlock()
}

// partitionEnded unregisters a partition's consumer.
func (p *Pipeline) partitionEnded(pt *partition) {
	p.mu.Lock()
	delete(p.partitions, pt)
	p.mu.Unlock()
}

// CaughtUp reports whether the run ended because it caught up.
func (p *Pipeline) CaughtUp() bool { return p.caughtUp.Load() }

// fail ends the run with err.
func (p *Pipeline) fail(err error) { p.stop(err) }

type topicPartition struct {
	topic     string
	partition int32
}
