package sink

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
)

// HiddenTimeFieldPrefix starts the name of the hidden hash field that holds the
// newest event time written into a key by one materialization.
const HiddenTimeFieldPrefix = "__feathr_event_time"

// HiddenTimeField returns the hidden event-time field of a materialization:
// "__feathr_event_time:" + materialization. Feature names cannot contain
// ':', so the field never collides with a feature, and Feathr's readers,
// which HMGET feature names only, never see it.
func HiddenTimeField(materialization string) string {
	return HiddenTimeFieldPrefix + ":" + materialization
}

// OlderTimesPrefix starts the name of the hidden hash field that lists a
// key's features whose event time is older than the newest one.
const OlderTimesPrefix = "__feathr_older_times"

// OlderTimesField returns the hidden field, next to HiddenTimeField's, that
// lists the features of a key whose event time is older than the time in
// HiddenTimeField, with their times: "__feathr_older_times:" + materialization.
// The key has it only while some feature is older (see Table).
func OlderTimesField(materialization string) string {
	return OlderTimesPrefix + ":" + materialization
}

// Table is a Redis feature table: the hashes a materialization writes.
// Updates refer to it by pointer; it must not change after its first use.
//
// With event-time ordering each feature of a key has its own event time:
// a field is written when the time stored for it is absent or not newer
// than the update's. The key's newest time is in HiddenTimeField, and the
// features older than it are listed, with their times, in the
// OlderTimesField of the same materialization (see setIfNewerScript).
type Table struct {
	Name            string          // Redis keys are Name + ":" + entity key
	TTL             time.Duration   // 0: keys do not expire; else PEXPIRE on each write
	Ordering        config.Ordering // how updates of a key are ordered; zero is config.OrderEvent
	HiddenTimeField string          // EventTime: the hidden event-time field; empty: HiddenTimeField("")

	// Features lists every row-level feature the table's updates may
	// carry: the materialization's, but its aggregated ones. The
	// event-time script needs them when an update makes a key's time
	// newer without bringing all of them, to keep the older time of those
	// the key holds. With Features unknown (nil), or for an update with a
	// field not listed, it lists the hash's fields (HKEYS) then, unless
	// HLEN says the key holds only the update's.
	Features []string

	agg *aggMaterialization // the aggregated features (NewTable); nil: none
}

// byEventTime reports whether t keeps each key's newest event (the
// event-time script) rather than its last arrival.
func (t *Table) byEventTime() bool { return t.Ordering != config.OrderArrival }

func (t *Table) timeField() string {
	if t.HiddenTimeField == "" {
		return HiddenTimeField("")
	}
	return t.HiddenTimeField
}

// olderField returns the hidden field that goes with t's time field:
// OlderTimesField of its materialization.
func (t *Table) olderField() string {
	tf := t.timeField()
	if m, ok := strings.CutPrefix(tf, HiddenTimeFieldPrefix+":"); ok {
		return OlderTimesField(m)
	}
	return OlderTimesPrefix + ":" + tf
}

// Field is one feature value of an update.
type Field struct {
	Name  string // feature name: the hash field
	Value []byte // base64 FeatureValue, from AppendValue
}

// Update sets some features of one entity.
//
// The writer keeps Fields (the slice and every Value) from Submit until it
// calls Acker.Ack(Seq) (without an Acker: until a later Flush returns),
// and never modifies them; the caller must not modify them in that time.
// After that they are the caller's again, to reuse.
type Update struct {
	Table     *Table  // the table written
	Key       string  // full Redis key, from Key(table, parts...)
	Fields    []Field // the values to set
	EventTime int64   // unix milliseconds
	Acker     Acker   // told once the update is written; may be nil
	Seq       int64   // handed back to Acker.Ack
	// Agg, when set, is the event's input to the table's aggregated
	// features: applied exactly once (see aggbatch.go), with the other
	// events of the key in the batch, in Submit order. The writer keeps
	// it as it keeps Fields.
	Agg *AggEvent
}

// Acker is told when an update was written.
type Acker interface {
	// Ack reports that the update with sequence number seq is durable in
	// Redis (or was superseded by a newer value that is). Acks of
	// different batches may arrive out of Seq order, from any goroutine.
	Ack(seq int64)
}

// AckTimer may be implemented by an Acker that wants to know when Redis
// acknowledged its updates: the writer then calls AckAt, with the time it
// read the replies of the update's batch (one clock read per batch),
// instead of Ack.
type AckTimer interface {
	AckAt(seq int64, at time.Time)
}

// Revoker may be implemented by an Acker whose updates' owner can give
// them up, such as a consumer whose partition was revoked in a rebalance:
// a newer owner then writes what follows, and an older write landing
// later would overwrite its values (with arrival ordering, or equal event
// times).
//
// Once Revoked returns true, the writer writes none of the Acker's updates
// it has not written yet: it drops them when it collects a batch, when it
// sends one, and before every retry of a failed batch (whose writes are
// coalesced again from the updates left). Dropped updates are never
// acknowledged; WriterStats.Dropped counts them. What remains: a batch
// already sent, its commands in a socket or in Redis's buffers, may still
// run (see the CLIENT KILL of dropped connections in the README); and an
// update of a batch that succeeds is acknowledged, revoked or not.
// Revoked is called from the writer's goroutines and must be quick; once
// true it must stay true.
type Revoker interface {
	Revoked() bool
}

// AckFunc adapts a function to Acker.
type AckFunc func(seq int64)

// Ack calls f(seq).
func (f AckFunc) Ack(seq int64) { f(seq) }

// WriterOptions tunes a Writer. The zero value gives the defaults.
type WriterOptions struct {
	BatchSize     int           // updates per batch; default 1000
	FlushInterval time.Duration // longest an update waits for its batch to fill; default 5ms
	Conns         int           // pipelined connections, each owning a share of the keys; default 4
	QueueSize     int           // updates queued per connection before Submit blocks; default 2*BatchSize
	Logger        *slog.Logger  // default slog.Default()
	MinBackoff    time.Duration // first retry delay after a failed batch; default 50ms
	MaxBackoff    time.Duration // retry delay cap; default 5s
	LogInterval   time.Duration // while writes keep failing, one log line per interval; default 10s

	// MaxQueueBytes bounds the bytes of the updates the writer holds
	// (their keys and values), from Submit until they are acknowledged
	// or dropped: Submit blocks while they reach it. An update larger
	// than the bound is taken alone, when the writer holds nothing else.
	// Default 16 MiB; negative: no bound but QueueSize.
	MaxQueueBytes int64

	// SendWhenIdle sends a batch as soon as nothing is queued and no
	// other batch of its connection is in flight, instead of waiting for
	// it to fill or for FlushInterval: an idle connection is then not
	// left waiting, so at moderate rates an update is written one round
	// trip after Submit. While a batch is in flight the next one still
	// collects, so under load batches fill as before; the cost is more,
	// smaller batches at moderate rates (more commands and CPU).
	SendWhenIdle bool

	// OnBatch, when set, is called after each batch is written, from
	// the goroutine of the batch's connection; it must be quick.
	OnBatch func(BatchInfo)
}

// BatchInfo describes one written batch, for metrics.
type BatchInfo struct {
	Updates   int           // updates in the batch
	Writes    int           // keys written after coalescing
	Commands  int           // commands sent
	RoundTrip time.Duration // the successful attempt's pipelined round trip
}

func (o *WriterOptions) setDefaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.Conns <= 0 {
		o.Conns = 4
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 2 * o.BatchSize
	}
	if o.MaxQueueBytes == 0 {
		o.MaxQueueBytes = defaultMaxQueueBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.LogInterval <= 0 {
		o.LogInterval = 10 * time.Second
	}
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	Batches   int64 // pipelined round trips that succeeded
	Commands  int64 // commands in those round trips (EVALSHA, HSET, PEXPIRE)
	Writes    int64 // keys written in those round trips, after coalescing
	Updates   int64 // updates acknowledged
	Coalesced int64 // updates merged into the write of an earlier update to the same key
	Stale     int64 // updates not written: the key held a newer event for each of their features
	Retries   int64 // batch attempts repeated after a failure
	Errors    int64 // failed batch attempts
	Dropped   int64 // updates not written, nor acknowledged: their owner revoked them (see Revoker)

	QueuedBytes int64 // now: bytes of the updates held (see WriterOptions.MaxQueueBytes)

	AggStats
}

// ErrClosed is returned by Submit and Flush after Close.
var ErrClosed = errors.New("sink: writer closed")

// Writer writes updates to Redis in pipelined batches. Make one with
// Store.NewWriter.
//
// Keys are spread over Conns connections by hash, so the updates of one
// key are written in Submit order on one connection; each connection
// sends one batch at a time. Into a Redis Cluster, each connection is one
// per master: a batch is split by the master that owns each key's slot,
// one pipeline per master, sent concurrently, following MOVED and ASK
// redirections during resharding. A failed batch is retried with backoff
// until it is written: nothing is acknowledged that was not written. An
// error that retrying cannot heal (a refused AUTH, a key holding another
// type, missing ACL permissions, a Redis Cluster's redirections when the
// store was not opened as a cluster) stops the writer: Failed is closed,
// Err returns the error, and Submit and Flush return it.
type Writer struct {
	opts   WriterOptions
	log    *slog.Logger
	script *redis.Script
	shards []*shard

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	failed   chan struct{} // closed on a fatal error
	failOnce sync.Once
	err      error // set before failed is closed

	queued   byteBound // the bytes of the updates held
	failures failureLog
	aggStats aggCounters
	stats    struct {
		batches, commands, writes, updates, coalesced, stale, retries, errors, dropped atomic.Int64
	}
}

// startWriter starts a writer whose shards write with the batchWriters
// that out returns, one per shard.
func startWriter(opts WriterOptions, out func(*Writer) batchWriter) *Writer {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		opts:   opts,
		log:    opts.Logger,
		script: redis.NewScript(-1, setIfNewerScript),
		ctx:    ctx,
		cancel: cancel,
		failed: make(chan struct{}),
	}
	w.failures.interval = opts.LogInterval
	w.queued.max = opts.MaxQueueBytes
	w.shards = make([]*shard, opts.Conns)
	for i := range w.shards {
		w.shards[i] = newShard(w, out(w))
	}
	w.wg.Add(len(w.shards))
	for _, s := range w.shards {
		go s.run()
	}
	return w
}

// Submit queues u for writing. It blocks while the queue of u's connection
// is full, or the updates held reach MaxQueueBytes (backpressure), until
// ctx is done. It returns ErrClosed after Close and the writer's fatal
// error after one. See Update for who owns u.Fields.
func (w *Writer) Submit(ctx context.Context, u Update) error {
	if u.Table == nil {
		return errors.New("sink: update without a table")
	}
	if err := w.state(); err != nil {
		return err
	}
	size := u.size()
	if !w.queued.take(ctx, w.failed, w.ctx.Done(), size) {
		return w.stopped(ctx)
	}
	s := w.shards[keyHash(u.Key)%uint32(len(w.shards))]
	// The usual case first: room in the queue, without the cost of a
	// select over four channels.
	select {
	case s.in <- item{u: u}:
		return nil
	default:
	}
	select {
	case s.in <- item{u: u}:
		return nil
	case <-ctx.Done():
	case <-w.failed:
	case <-w.ctx.Done():
	}
	w.queued.release(size)
	return w.stopped(ctx)
}

// prune drops b's revoked updates (see Revoker), counts them and gives
// back their bytes.
func (w *Writer) prune(b *batch) {
	if n, size := b.prune(); n > 0 {
		w.stats.dropped.Add(int64(n))
		w.queued.release(size)
	}
}

// stopped returns why a wait of Submit ended: the writer's fatal error,
// ErrClosed, or ctx's error.
func (w *Writer) stopped(ctx context.Context) error {
	if err := w.state(); err != nil {
		return err
	}
	return ctx.Err()
}

// Flush writes every update submitted before it and waits until they are
// acknowledged, or dropped because their owner revoked them (see
// Revoker), or until ctx is done. While Redis is unreachable it waits.
func (w *Writer) Flush(ctx context.Context) error {
	if err := w.state(); err != nil {
		return err
	}
	done := make(chan struct{}, len(w.shards))
	for _, s := range w.shards {
		select {
		case s.in <- item{flush: done}:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.failed:
			return w.err
		case <-w.ctx.Done():
			return ErrClosed
		}
	}
	for range w.shards {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.failed:
			return w.err
		case <-w.ctx.Done():
			return ErrClosed
		}
	}
	return nil
}

// Close stops the writer and returns its connections to the pool. Updates
// not yet written are dropped without an ack: call Flush first. Close
// returns the writer's fatal error, if any.
func (w *Writer) Close() error {
	w.cancel()
	w.wg.Wait()
	return w.Err()
}

// Err returns the error that stopped the writer, or nil.
func (w *Writer) Err() error {
	select {
	case <-w.failed:
		return w.err
	default:
		return nil
	}
}

// Failed is closed when an error that retrying cannot heal stopped the
// writer; Err returns it.
func (w *Writer) Failed() <-chan struct{} { return w.failed }

// Stats returns the writer's counters so far.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Batches:   w.stats.batches.Load(),
		Commands:  w.stats.commands.Load(),
		Writes:    w.stats.writes.Load(),
		Updates:   w.stats.updates.Load(),
		Coalesced: w.stats.coalesced.Load(),
		Stale:     w.stats.stale.Load(),
		Retries:   w.stats.retries.Load(),
		Errors:    w.stats.errors.Load(),
		Dropped:   w.stats.dropped.Load(),

		QueuedBytes: w.queued.used.Load(),

		AggStats: w.aggStats.load(),
	}
}

// state returns the fatal error, ErrClosed, or nil.
func (w *Writer) state() error {
	if err := w.Err(); err != nil {
		return err
	}
	if w.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

func (w *Writer) fail(err error) {
	w.failOnce.Do(func() {
		err = hintCluster(err)
		w.err = err
		w.log.Error("redis writer stopped", "err", err)
		close(w.failed)
	})
}

// keyHash is FNV-1a of s.
func keyHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
