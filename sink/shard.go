package sink

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// batchesPerShard is how many batches a shard holds: while one is being
// answered by Redis, the next is already sent and a third collects.
const batchesPerShard = 3

// shard owns one connection and the keys that hash to it. Two goroutines
// share its work: the sender collects a batch, coalesces it and sends it
// in one pipelined write, then collects the next while Redis answers; the
// receiver reads each batch's replies in order, acks its updates, and
// retries a failed batch until it is written.
//
// Batches are written in the order they were collected, on one
// connection at a time: after a failure the receiver drops the
// connection and, holding sendMu so that nothing new is sent, writes the
// failed batch and every batch sent after it again, in order.
//
// Into a Redis Cluster (cl set) the sender only collects: the receiver
// writes each batch whole, in order, with one pipeline per master
// (clusterShard.exec), while the sender collects the next ones.
type shard struct {
	w     *Writer
	in    chan item
	timer *time.Timer // the sender's: the batch's flush interval
	sleep *time.Timer // the receiver's: backoff between attempts
	free  chan *batch // batches to collect into
	sent  chan *batch // collected batches, in order, for the receiver
	// cl, when set, writes the batches to a Redis Cluster (cluster.go).
	cl *clusterShard

	// sendMu is held while a batch is sent, and by the receiver while it
	// writes batches again after a failure. It guards what follows.
	sendMu sync.Mutex
	conn   redis.Conn
	// scriptErr is the error reply to loading the script on conn.
	scriptErr error
	connID    int64   // conn's CLIENT ID; 0: unknown
	dropped   []int64 // IDs of connections dropped, to kill (killDropped)
	args      []any
	argCache
}

func newShard(w *Writer, i int) *shard {
	stopped := func() *time.Timer {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	s := &shard{
		w:     w,
		in:    make(chan item, w.opts.QueueSize),
		timer: stopped(),
		sleep: stopped(),
		free:  make(chan *batch, batchesPerShard),
		sent:  make(chan *batch, batchesPerShard),
	}
	for range batchesPerShard {
		s.free <- &batch{index: make(map[writeKey]int)}
	}
	if w.cluster != nil {
		s.cl = newClusterShard(s, w.cluster)
	}
	return s
}

// run runs the shard until the writer is closed or fails.
func (s *shard) run() {
	defer s.w.wg.Done()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.receive()
	}()
	s.send()
	<-done
	s.dropConn()
}

// send is the sender's loop: collect a batch, send it, hand it to the
// receiver.
func (s *shard) send() {
	w := s.w
	for {
		var b *batch
		select {
		case b = <-s.free:
		case <-w.ctx.Done():
			return
		case <-w.failed:
			return
		}
		if !s.collect(b) {
			return
		}
		if s.cl != nil {
			s.sent <- b // never blocks: it has room for every batch
			continue
		}
		s.sendMu.Lock()
		b.conn, b.sendErr, b.sentAt = nil, nil, time.Now()
		if len(b.writes) > 0 {
			b.conn, b.sendErr = s.getConn(b)
			if b.sendErr == nil {
				b.sendErr = s.sendBatch(b.conn, b)
			}
		}
		// Handed over before sendMu is released, so that a receiver
		// recovering from a failure finds every batch sent before.
		s.sent <- b // never blocks: it has room for every batch
		s.sendMu.Unlock()
	}
}

// collect fills b until it is full, a Flush marker arrives, or the flush
// interval passed since its first item. It returns false when the writer
// was closed or failed.
func (s *shard) collect(b *batch) bool {
	w := s.w
	var it item
	select {
	case it = <-s.in:
	case <-w.ctx.Done():
		return false
	case <-w.failed:
		return false
	}
	if s.add(b, it) {
		return true
	}
	s.timer.Reset(w.opts.FlushInterval)
	defer s.timer.Stop()
	for {
		// Take what is queued without the cost of the full select; the
		// timer is checked there, at the latest when the queue is empty.
		select {
		case it = <-s.in:
			if s.add(b, it) {
				return true
			}
			continue
		default:
		}
		if w.opts.SendWhenIdle && len(s.free) == batchesPerShard-1 {
			return true // nothing queued, nothing in flight: see SendWhenIdle
		}
		select {
		case it = <-s.in:
			if s.add(b, it) {
				return true
			}
		case <-s.timer.C:
			return true
		case <-w.ctx.Done():
			return false
		case <-w.failed:
			return false
		}
	}
}

// receive is the receiver's loop: read each sent batch's replies, ack it,
// and hand it back to the sender.
func (s *shard) receive() {
	w := s.w
	for {
		var b *batch
		select {
		case b = <-s.sent:
		case <-w.ctx.Done():
			return
		case <-w.failed:
			return
		}
		if !s.complete(b) {
			return
		}
	}
}

// complete reads b's replies; on a failure it writes b and the batches
// sent after it again. Into a cluster, it writes b (nothing was sent). It
// returns false when the writer was closed or failed first.
func (s *shard) complete(b *batch) bool {
	if len(b.writes) == 0 {
		s.finish(b)
		return true
	}
	if s.cl != nil {
		if !s.retry(b, nil) {
			return false
		}
		s.finish(b)
		return true
	}
	err := b.sendErr
	if err == nil {
		var stale int
		stale, err = s.receiveBatch(b.conn, b)
		if err == nil {
			s.written(b, stale, len(b.calls), time.Since(b.sentAt))
			s.finish(b)
			return true
		}
	}
	// Replies of later batches sent on this connection are unread: drop
	// it, and write them again after b, in order, before anything new.
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.conn == b.conn {
		s.dropConn()
	}
	if !s.retry(b, err) {
		return false
	}
	s.finish(b)
	for {
		select {
		case b = <-s.sent:
		default:
			return true
		}
		if len(b.writes) > 0 && !s.retry(b, nil) {
			return false
		}
		s.finish(b)
	}
}

// written counts a batch whose every reply was read: cmds commands that
// wrote, stale of its updates found stale.
func (s *shard) written(b *batch, stale, cmds int, rt time.Duration) {
	w := s.w
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(BatchInfo{
			Updates:   len(b.updates),
			Writes:    len(b.writes),
			Commands:  cmds,
			RoundTrip: rt,
		})
	}
	w.stats.batches.Add(1)
	w.stats.commands.Add(int64(cmds))
	w.stats.writes.Add(int64(len(b.writes)))
	b.stale += stale
	w.failures.recovered(w.log)
}

// finish acks the written batch, releases Flush waiters, resets b and
// hands it back to the sender.
func (s *shard) finish(b *batch) {
	for i := range b.updates {
		if a := b.updates[i].Acker; a != nil {
			a.Ack(b.updates[i].Seq)
		}
	}
	s.w.stats.updates.Add(int64(len(b.updates)))
	s.w.stats.stale.Add(int64(b.stale))
	for _, f := range b.flushes {
		f <- struct{}{}
	}
	clear(b.updates)
	b.updates = b.updates[:0]
	clear(b.flushes)
	b.flushes = b.flushes[:0]
	for i := range b.writes {
		clear(b.writes[i].fields)
		b.writes[i].table, b.writes[i].fields = nil, b.writes[i].fields[:0]
	}
	b.writes = b.writes[:0]
	clear(b.index)
	b.stale = 0
	b.calls = b.calls[:0]
	b.conn, b.sendErr = nil, nil
	s.free <- b // never blocks: it has room for every batch
}

// retry writes b until it is written, after a first attempt that failed
// with err (nil: b was not attempted on the current connection). s.sendMu
// is held, unless the shard writes to a cluster (its sender never sends).
// It returns false when the writer was closed or failed first.
func (s *shard) retry(b *batch, err error) bool {
	w := s.w
	reloaded := false
	for attempt := 0; ; attempt++ {
		if err != nil {
			w.stats.errors.Add(1)
			if w.ctx.Err() != nil {
				return false
			}
			wait := true
			if isNoScript(err) {
				// Redis restarted or SCRIPT FLUSH: the connection is
				// dropped, and the next one loads it again, at once
				// the first time.
				wait = reloaded
				reloaded = true
			}
			if isFatal(err) {
				w.fail(fmt.Errorf("sink: write to redis: %w", err))
				return false
			}
			if wait {
				w.failures.failure(w.log, err)
				if !s.pause(s.backoff(attempt)) {
					return false
				}
			}
			w.stats.retries.Add(1)
		}
		start := time.Now()
		var stale, cmds int
		stale, cmds, err = s.exec(b)
		if err == nil {
			s.written(b, stale, cmds, time.Since(start))
			return true
		}
		// Broken, or an error reply left later replies unread: either
		// way the next attempt starts on a new connection.
		s.dropConn()
	}
}

// pause waits d, or until the writer is closed or fails.
func (s *shard) pause(d time.Duration) bool {
	s.sleep.Reset(d)
	defer s.sleep.Stop()
	select {
	case <-s.sleep.C:
		return true
	case <-s.w.ctx.Done():
		return false
	case <-s.w.failed:
		return false
	}
}

// exec writes b in one pipelined round trip on the shard's connection
// (or one per master of a cluster) and reads every reply; s.sendMu is
// held and no other batch is in flight. It returns the number of updates
// found stale and of commands that wrote.
func (s *shard) exec(b *batch) (stale, cmds int, err error) {
	if s.cl != nil {
		return s.cl.exec(b)
	}
	c, err := s.getConn(b)
	if err != nil {
		return 0, 0, err
	}
	if err := s.sendBatch(c, b); err != nil {
		return 0, 0, err
	}
	stale, err = s.receiveBatch(c, b)
	return stale, len(b.calls), err
}

// failureLog rate-limits the log lines of failing writes: the first
// failure, then one line per interval with a count, then the recovery.
type failureLog struct {
	interval time.Duration

	mu       sync.Mutex
	failing  bool
	total    int
	sinceLog int
	last     time.Time
}

func (f *failureLog) failure(log *slog.Logger, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.sinceLog++
	now := time.Now()
	switch {
	case !f.failing:
		f.failing = true
		log.Warn("redis write failed; retrying", "err", err)
	case now.Sub(f.last) >= f.interval:
		log.Warn("redis writes still failing; retrying", "failures", f.sinceLog, "err", err)
	default:
		return
	}
	f.last, f.sinceLog = now, 0
}

func (f *failureLog) recovered(log *slog.Logger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		log.Info("redis writes recovered", "failures", f.total)
		f.failing, f.total, f.sinceLog = false, 0, 0
	}
}
