// Package pipeline runs a compiled plan: one Kafka consumer group per
// source, each claimed partition read in order (decode → transform → key)
// into the sink's batched writer, and an offset marked for commit only once
// the Redis writes it produced were acknowledged.
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
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// Options configure a run.
type Options struct {
	Plan   *plan.Plan
	Writer *sink.Writer
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
	// ShutdownTimeout bounds the final flush and commit (default 30s).
	ShutdownTimeout time.Duration
	// Strategy is the consumer group rebalance strategy, one of
	// Strategies (default "range"), or a comma-separated list of them in
	// order of preference.
	Strategy string
	// Hooks watch the run, for metrics.
	Hooks Hooks
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

	read, written, skipped, errs, dead atomic.Int64

	sources []*sourceCounters // as Plan.Sources

	mu       sync.Mutex
	trackers map[*tracker]string // → source name
	caught   map[string]bool     // "topic/partition" → caught up, until-caught-up only
	setups   int                 // sources whose first session started
	caughtUp atomic.Bool
	stop     context.CancelCauseFunc
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
		opts:     opts,
		log:      opts.Logger,
		errLog:   newLimitedLogger(opts.Logger, 10, 10*time.Second, "bad records not logged in the last period (see the counts in the summary)"),
		trackers: map[*tracker]string{},
		caught:   map[string]bool{},
	}
	if opts.Plan != nil {
		for _, src := range opts.Plan.Sources {
			p.sources = append(p.sources, newSourceCounters(src))
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
	for t := range p.trackers {
		s.Lag += t.lag()
	}
	p.mu.Unlock()
	return s
}

// ErrCaughtUp is the cause of a run's end with UntilCaughtUp.
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
	handlers := make([]*handler, len(p.opts.Plan.Sources))
	for i, src := range p.opts.Plan.Sources {
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
		h := &handler{p: p, src: src, client: client, c: p.sources[i]}
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
	for i, src := range p.opts.Plan.Sources {
		group, h := groups[i], handlers[i]
		drains.Add(1)
		go func() {
			defer drains.Done()
			// While a broker is down, sarama reports an error per
			// partition every retry: rate-limited, so an outage of many
			// partitions cannot flood the log.
			kafkaLog := newLimitedLogger(p.log, 5, 10*time.Second, "kafka errors not logged in the last period")
			for err := range group.Errors() {
				kafkaLog.log("kafka", "source", src.Config.Name, "err", err)
			}
		}()
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			p.consume(ctx, group, src, h)
		}()
	}
	if w := p.opts.Writer; w != nil {
		go func() {
			select {
			case <-w.Failed():
				cancel(fmt.Errorf("redis: %w", w.Err()))
			case <-ctx.Done():
			}
		}()
	}
	<-ctx.Done()
	// Each session flushes the writer and commits in Cleanup before its
	// Consume returns; then the groups close, which ends their error channels.
	consumers.Wait()
	for _, g := range groups {
		if err := g.Close(); err != nil {
			p.log.Warn("closing consumer group", "err", err)
		}
	}
	groups = nil
	drains.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errCaughtUp) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return nil
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
func (p *Pipeline) consume(ctx context.Context, group sarama.ConsumerGroup, src *plan.Source, h *handler) {
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

func (p *Pipeline) addTracker(t *tracker, source string) {
	p.mu.Lock()
	p.trackers[t] = source
	p.mu.Unlock()
}

func (p *Pipeline) removeTracker(t *tracker) {
	p.mu.Lock()
	delete(p.trackers, t)
	p.mu.Unlock()
}

// sessionStarted records the partitions a source's session was assigned,
// for until-caught-up.
func (p *Pipeline) sessionStarted(sess sarama.ConsumerGroupSession) {
	if !p.opts.UntilCaughtUp {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setups++
	for topic, parts := range sess.Claims() {
		for _, part := range parts {
			k := fmt.Sprintf("%s/%d", topic, part)
			if _, ok := p.caught[k]; !ok {
				p.caught[k] = false
			}
		}
	}
}

// CaughtUp reports whether the run ended because it caught up.
func (p *Pipeline) CaughtUp() bool { return p.caughtUp.Load() }

func (p *Pipeline) partitionCaughtUp(topic string, partition int32) {
	p.mu.Lock()
	p.caught[fmt.Sprintf("%s/%d", topic, partition)] = true
	all := p.setups >= len(p.opts.Plan.Sources)
	for _, done := range p.caught {
		all = all && done
	}
	p.mu.Unlock()
	if all {
		p.log.Info("caught up: every assigned partition is written up to its high watermark")
		p.caughtUp.Store(true)
		p.stop(errCaughtUp)
	}
}

// fail ends the run with err.
func (p *Pipeline) fail(err error) { p.stop(err) }
