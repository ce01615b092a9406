package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// RecordError is a record that could not be processed, located in Kafka.
type RecordError struct {
	Topic           string
	Partition       int32
	Offset          int64
	Materialization string // empty when the whole record failed (decoding)
	Err             error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// handler is a source's sarama.ConsumerGroupHandler.
type handler struct {
	p      *Pipeline
	src    *plan.Source
	client sarama.Client
	dl     *deadLetter
	c      *sourceCounters
	// running are the claims whose consumption started; once all the
	// claims of an assignment run, it is logged, and kept in loggedSet.
	mu        sync.Mutex
	running   map[topicPartition]bool
	logged    bool
	loggedSet map[topicPartition]bool
}

func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.c.sessions.Add(1)
	h.c.observeGeneration(sess)
	h.p.log.Debug("joined consumer group", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group, "claims", sess.Claims())
	h.p.sessionStarted(sess)
	h.mu.Lock()
	h.logged = false
	h.checkAssigned(sess)
	h.mu.Unlock()
	go h.watchAssignment(sess)
	return nil
}

// Cleanup runs once every ConsumeClaim of the session returned, before the
// partitions are given up: it writes what is in flight so that its offsets
// are marked, and commits them.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	if w := h.p.opts.Writer; w != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(sess.Context()), h.p.opts.ShutdownTimeout)
		defer cancel()
		if err := w.Flush(ctx); err != nil {
			h.p.log.Error("flushing writes before commit; the unwritten records will be read again", "source", h.src.Config.Name, "err", err)
		}
	}
	sess.Commit()
	h.c.sessions.Add(-1)
	return nil
}

// claimStarted records that claim's consumption started.
func (h *handler) claimStarted(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		h.running = map[topicPartition]bool{}
	}
	h.running[topicPartition{claim.Topic(), claim.Partition()}] = true
	h.checkAssigned(sess)
}

// checkAssigned logs "partitions assigned" once every claim of the
// session's current assignment started: by then sarama has fixed their
// starting offsets, so with start: latest every record produced after the
// line is read. An eager strategy logs each session's assignment; with a
// cooperative one the session stays across rebalances, and each new
// assignment is logged. h.mu is held.
func (h *handler) checkAssigned(sess sarama.ConsumerGroupSession) {
	claims := sess.Claims()
	set := map[topicPartition]bool{}
	for topic, parts := range claims {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			if !h.running[tp] {
				return
			}
			set[tp] = true
		}
	}
	if h.logged && maps.Equal(set, h.loggedSet) {
		return
	}
	h.logged, h.loggedSet = true, set
	if len(set) == 0 {
		h.p.log.Info("no partitions assigned", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group)
		return
	}
	h.p.log.Info("partitions assigned", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group, "claims", claims)
}

// watchAssignment checks the assignment until the session ends: a
// cooperative rebalance that only takes partitions away starts no claim.
func (h *handler) watchAssignment(sess sarama.ConsumerGroupSession) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-sess.Context().Done():
			return
		case <-tick.C:
			h.mu.Lock()
			h.checkAssigned(sess)
			h.mu.Unlock()
		}
	}
}

// claimEnded records that claim's consumption ended.
func (h *handler) claimEnded(claim sarama.ConsumerGroupClaim) {
	h.mu.Lock()
	delete(h.running, topicPartition{claim.Topic(), claim.Partition()})
	h.mu.Unlock()
}

// claimState is a claim's tracker with what counts its records.
type claimState struct {
	*tracker
	fresh  *freshSession // nil without a Fresh hook
	ackers []targetAcker // as h.c.targets
}

func (h *handler) newClaimState(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) *claimState {
	cs := &claimState{}
	if f := h.p.opts.Hooks.Fresh; f != nil {
		cs.fresh = &freshSession{ConsumerGroupSession: sess, fresh: f}
		sess = cs.fresh
	}
	cs.tracker = newTracker(sess, claim, &h.p.written)
	cs.ackers = make([]targetAcker, len(h.c.targets))
	for i := range cs.ackers {
		cs.ackers[i] = targetAcker{t: cs.tracker, c: &h.c.targets[i]}
	}
	return cs
}

// acker returns the Acker of an update to table.
func (cs *claimState) acker(table *sink.Table) sink.Acker {
	for i := range cs.ackers {
		if cs.ackers[i].c.table == table {
			return &cs.ackers[i]
		}
	}
	return cs.tracker
}

// released writes what the claim has in flight when its partition is
// revoked while the session goes on (a cooperative rebalance, where
// Cleanup does not run), so that sarama commits the partition's offset
// up to the last record consumed before it hands the partition over.
func (h *handler) released(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) {
	w := h.p.opts.Writer
	if w == nil || sess.Context().Err() != nil {
		return // the session is ending: Cleanup flushes and commits
	}
	timeout := h.p.opts.ShutdownTimeout
	if h.client != nil {
		timeout = revokeFlushTimeout(timeout, h.client.Config().Consumer.Group.Rebalance.Timeout)
	}
	ctx, cancel := context.WithTimeout(sess.Context(), timeout)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		h.p.log.Warn("flushing writes of a revoked partition; its unwritten records will be read again by its new owner", "source", h.src.Config.Name, "topic", claim.Topic(), "partition", claim.Partition(), "err", err)
		return
	}
	h.p.log.Info("partition revoked: its writes are flushed for the commit", "source", h.src.Config.Name, "topic", claim.Topic(), "partition", claim.Partition())
}

// revokeFlushTimeout bounds the flush of a revoked partition: by the
// shutdown timeout, and to 5s (or half of it, when shorter than 10s)
// within the rebalance timeout, which is how long sarama waits for the
// claim to end before it gives the rebalance up.
func revokeFlushTimeout(shutdown, rebalance time.Duration) time.Duration {
	if rebalance <= 0 {
		return shutdown
	}
	margin := min(5*time.Second, rebalance/2)
	return min(shutdown, rebalance-margin)
}

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	h.c.observeGeneration(sess)
	defer h.c.observeGeneration(sess)
	t := h.newClaimState(sess, claim)
	h.p.addTracker(t.tracker, h.src.Config.Name)
	defer h.p.removeTracker(t.tracker)
	h.claimStarted(sess, claim)
	defer h.claimEnded(claim)
	if h.p.opts.UntilCaughtUp {
		h.setTarget(t.tracker, claim)
	}
	ctx := sess.Context()
	updates := make([]sink.Update, 0, len(h.src.Targets))
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				h.released(sess, claim)
				return nil
			}
			var stop bool
			updates, stop = h.handle(ctx, t, msg, updates[:0])
			if stop {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (h *handler) setTarget(t *tracker, claim sarama.ConsumerGroupClaim) {
	target := claim.HighWaterMarkOffset()
	start := claim.InitialOffset()
	switch start {
	case sarama.OffsetNewest:
		start = target
	case sarama.OffsetOldest:
		// The log may start above 0 (retention); an empty one starts at
		// the high watermark and is caught up at once.
		start = 0
		if h.client != nil {
			if oldest, err := h.client.GetOffset(claim.Topic(), claim.Partition(), sarama.OffsetOldest); err == nil {
				start = oldest
			}
		}
	}
	topic, part := claim.Topic(), claim.Partition()
	t.setTarget(start, target, func() { h.p.partitionCaughtUp(topic, part) })
}

// handle processes one message and reports whether consumption of the
// partition must stop (on_error: stop, or the run is ending).
func (h *handler) handle(ctx context.Context, t *claimState, msg *sarama.ConsumerMessage, updates []sink.Update) ([]sink.Update, bool) {
	h.p.read.Add(1)
	h.c.read.Add(1)
	rec, err := decode.Reuse(h.src.Decoder, msg.Value, t.rec)
	if err != nil {
		h.c.decodeErrs.Add(1)
		rerr := &RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Err: fmt.Errorf("decode: %w", err)}
		policy, topics := h.src.RecordPolicy()
		if !h.recordFailed(ctx, msg, rerr, policy, topics) {
			return updates, true
		}
		h.c.failed(nil, policy)
		t.add(msg.Offset, 0)
		return updates, false
	}
	t.rec = rec
	updates, terrs := h.src.Process(rec, msg.Timestamp, updates)
	for _, te := range terrs {
		rerr := &RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
			Materialization: te.Target.Materialization.Config.Name, Err: te}
		m := te.Target.Materialization
		var topics []string
		if topic := m.DeadLetterTopic(); topic != "" {
			topics = []string{topic}
		}
		tc := h.c.targetOf(te.Target)
		if tc != nil && te.Feature == "" {
			tc.keyErrs.Add(1)
		} else if tc != nil {
			tc.fnErrs.Add(1)
		}
		if !h.recordFailed(ctx, msg, rerr, m.OnError, topics) {
			return updates, true
		}
		h.c.failed(tc, m.OnError)
	}
	if t.fresh != nil && len(updates) > 0 {
		t.fresh.push(msg.Offset, msg.Timestamp)
	}
	t.add(msg.Offset, len(updates))
	for _, u := range updates {
		u.Acker, u.Seq = t.acker(u.Table), msg.Offset
		if err := h.p.opts.Writer.Submit(ctx, u); err != nil {
			// The run is ending (or the sink failed for good): this record
			// stays unacknowledged, so its offset is never committed.
			if !errors.Is(err, context.Canceled) {
				h.p.fail(fmt.Errorf("redis: %w", err))
			}
			return updates, true
		}
	}
	return updates, false
}

// recordFailed counts and logs a bad record and applies policy. It reports
// whether consumption goes on past the record.
func (h *handler) recordFailed(ctx context.Context, msg *sarama.ConsumerMessage, rerr *RecordError, policy config.OnError, dlTopics []string) bool {
	h.p.errs.Add(1)
	switch policy {
	case config.Stop:
		h.p.log.Error("bad record; stopping (on_error: stop)", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
		h.p.fail(rerr)
		return false
	case config.DeadLetter:
		for _, topic := range dlTopics {
			if err := h.dl.send(msg, topic, rerr); err != nil {
				h.p.log.Error("cannot write to the dead-letter topic; stopping", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "dead_letter", topic, "err", err)
				h.p.fail(fmt.Errorf("dead-letter %s for %s/%d@%d: %w", topic, rerr.Topic, rerr.Partition, rerr.Offset, err))
				return false
			}
		}
		h.p.dead.Add(1)
		h.p.errLog.log("bad record sent to the dead-letter topic", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "dead_letter", dlTopics, "err", rerr.Err)
		return true
	}
	h.p.skipped.Add(1)
	h.p.errLog.log("bad record skipped", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
	return true
}
