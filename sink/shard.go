package sink

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// batchesPerShard is how many batches a shard holds: while one is being
// answered by Redis, the next is already sent and a third collects.
const batchesPerShard = 3

// shard owns a share of the keys and one connection (one per master of
// a cluster) to write them. Two goroutines share its work: the sender
// collects a batch, coalesces it and sends it (out.send), then collects
// the next while Redis answers; the receiver completes each batch's write
// in order (out.receive), acks its updates, and writes a failed batch
// again until it is written.
//
// Batches are written in the order they were collected, on one
// connection at a time: after a failure the receiver drops the
// connection and, holding sendMu so that nothing new is sent, writes the
// failed batch and every batch sent after it again, in order.
type shard struct {
	w     *Writer
	in    chan item
	timer *time.Timer // the sender's: the batch's flush interval
	sleep *time.Timer // the receiver's: backoff between attempts
	free  chan *batch // batches to collect into
	sent  chan *batch // collected batches, in order, for the receiver

	// sendMu is held while a batch is sent, and by the receiver while it
	// writes batches again after a failure. It guards out's connections.
	sendMu sync.Mutex
	out    batchWriter
	// aggSlot is held by the batch with aggregate writes in flight: at
	// most one at a time (see aggbatch.go).
	aggSlot chan struct{}
}

// A batchWriter writes a shard's batches, in the order they were
// collected: to one server (serverWriter), or to a cluster
// (clusterWriter). The sender calls send with the shard's sendMu held,
// then hands the batch to the receiver, which calls receive for each
// batch in that order, without sendMu. After a failed receive, the
// receiver takes sendMu, calls drop, and writes that batch and every
// batch sent after it again with exec.
type batchWriter interface {
	// send starts writing b. One server: b's commands in one pipelined
	// write, whose replies receive reads; an error is kept in b for
	// receive. A cluster: nothing.
	send(b *batch)
	// receive completes the write of b that send started. One server:
	// it reads the replies. A cluster: it writes b whole, one pipeline
	// per master, without the updates revoked since (see Revoker).
	receive(b *batch) (outcome, error)
	// exec writes b whole and reads every reply, on a connection on
	// which nothing else is in flight; sendMu is held.
	exec(b *batch) (outcome, error)
	// drop ends the connection b was sent on, or every connection when
	// b is nil; its unread replies are lost, and the next write starts
	// on a new connection. sendMu is held, or the sender has stopped.
	drop(b *batch)
}

// outcome is what a written batch did.
type outcome struct {
	stale     int           // updates found stale
	commands  int           // commands that wrote
	roundTrip time.Duration // of the attempt that succeeded
}

func newShard(w *Writer, out batchWriter) *shard {
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
		out:   out,

		aggSlot: make(chan struct{}, 1),
	}
	for range batchesPerShard {
		s.free <- &batch{index: make(map[writeKey]int)}
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
	s.out.drop(nil)
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
		if !s.collect(b) || !s.aggTurn(b) {
			return
		}
		s.sendMu.Lock()
		// A batch may wait here long, while an earlier one is retried.
		s.w.prune(b)
		if b.hasWrites() {
			s.out.send(b)
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

// receive is the receiver's loop: complete each sent batch's write, ack
// it, and hand it back to the sender.
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

// complete completes b's write; on a failure it writes b and the batches
// sent after it again. It returns false when the writer was closed or
// failed first.
func (s *shard) complete(b *batch) bool {
	if !b.hasWrites() {
		s.finish(b)
		return true
	}
	o, err := s.out.receive(b)
	if err == nil {
		if b.hasWrites() { // a cluster's receive may prune them all
			s.written(b, o)
		}
		s.finish(b)
		return true
	}
	// Replies of later batches sent on this connection are unread: drop
	// it, and write them again after b, in order, before anything new.
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.out.drop(b)
	if !s.writeRetrying(b, err) {
		return false
	}
	s.finish(b)
	for {
		select {
		case b = <-s.sent:
		default:
			return true
		}
		if b.hasWrites() && !s.writeRetrying(b, nil) {
			return false
		}
		s.finish(b)
	}
}

// written counts a batch whose every reply was read.
func (s *shard) written(b *batch, o outcome) {
	w := s.w
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(BatchInfo{
			Updates:   len(b.updates),
			Writes:    len(b.writes),
			Commands:  o.commands,
			RoundTrip: o.roundTrip,
		})
	}
	w.stats.batches.Add(1)
	w.stats.commands.Add(int64(o.commands))
	w.stats.writes.Add(int64(len(b.writes)))
	b.stale += o.stale
	w.failures.recovered(w.log)
}

// finish acks the written batch, releases Flush waiters, resets b and
// hands it back to the sender.
func (s *shard) finish(b *batch) {
	s.aggDone(b) // counted before acks and Flush waiters see the batch
	var now time.Time
	for i := range b.updates {
		switch a := b.updates[i].Acker; a := a.(type) {
		case nil:
		case AckTimer:
			if now.IsZero() {
				now = time.Now()
			}
			a.AckAt(b.updates[i].Seq, now)
		default:
			a.Ack(b.updates[i].Seq)
		}
	}
	s.w.stats.updates.Add(int64(len(b.updates)))
	s.w.queued.release(b.bytes)
	s.w.stats.stale.Add(int64(b.stale))
	s.w.stats.coalesced.Add(int64(b.coalesced))
	for _, f := range b.flushes {
		f <- struct{}{}
	}
	b.reset()
	s.free <- b // never blocks: it has room for every batch
}

// writeRetrying writes b with exec, with backoff between attempts, until
// it is written. failed is the error of an attempt that failed already
// (its connection dropped), or nil: b's first attempt on the current
// connection is then made at once. s.sendMu is held. It returns false
// when the writer was closed or failed first.
func (s *shard) writeRetrying(b *batch, failed error) bool {
	err := failed
	w := s.w
	reloaded := false
	for attempt := 0; ; attempt++ {
		if err != nil {
			w.stats.errors.Add(1)
			if w.ctx.Err() != nil {
				return false
			}
			wait := true
			if isReply(err, "NOSCRIPT") {
				// Redis restarted or SCRIPT FLUSH: the connection is
				// dropped, and the next one loads it again, at once
				// the first time.
				wait = reloaded
				reloaded = true
			}
			if isScriptError(err) {
				w.fail(fmt.Errorf("sink: write to redis: the event-time script failed, which retrying would repeat: %w", err))
				return false
			}
			if isFatal(err) {
				w.fail(fmt.Errorf("sink: write to redis: %w", err))
				return false
			}
			if wait {
				w.failures.failure(w.log, err)
				if !s.pause(w.opts.backoff(attempt)) {
					return false
				}
			}
			w.stats.retries.Add(1)
		}
		if s.w.prune(b); !b.hasWrites() {
			return true // nothing left to write
		}
		var o outcome
		o, err = s.out.exec(b)
		if err == nil {
			s.written(b, o)
			return true
		}
		// Broken, or an error reply left later replies unread: either
		// way the next attempt starts on a new connection.
		s.out.drop(nil)
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
