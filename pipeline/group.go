package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// handler is a source's sarama.ConsumerGroupHandler.
type handler struct {
	p      *Pipeline
	src    *source
	client sarama.Client
	dl     *deadLetter
	// running are the claims whose consumption started; once all the
	// claims of an assignment run, it is logged, and kept in loggedSet.
	mu        sync.Mutex
	running   map[topicPartition]context.CancelFunc // ends the claim's context
	session   []*partition                          // the partitions of the current session, for Cleanup
	logged    bool
	loggedSet map[topicPartition]bool
}

func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.src.sessions.Add(1) // Cleanup runs even when Setup fails
	h.src.observeGeneration(sess)
	h.p.log.Debug("joined consumer group", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group, "claims", sess.Claims())
	if err := h.commitStarts(sess, h.client.Config().Consumer.Offsets.Initial); err != nil {
		// The session ends and consume joins again, with backoff.
		return fmt.Errorf("committing the start of new partitions: %w", err)
	}
	h.p.assigned(h.src, sess.Claims())
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
		ctx, cancel := context.WithTimeout(context.WithoutCancel(sess.Context()), h.p.flushTimeout())
		defer cancel()
		if err := w.Flush(ctx); err != nil {
			h.p.log.Error("flushing writes before commit; the unwritten records will be read again", "source", h.src.Config.Name, "err", err)
			// The partitions go to their next owners: what is not written
			// by now must not be written later, over the new owners'.
			h.mu.Lock()
			for _, pt := range h.session {
				pt.revoked.Store(true)
			}
			h.mu.Unlock()
		}
	}
	h.mu.Lock()
	h.session = nil
	h.mu.Unlock()
	sess.Commit()
	h.src.sessions.Add(-1)
	return nil
}

// commitClaimStart commits the start of a claim that has no committed
// offset: the high watermark the claim was created at (sarama resolves
// the newest offset to it), or the oldest offset with start: earliest.
// Residual window: a fetch response that raised the high watermark before
// this runs would make the commit skip its records if the process died
// before writing them (a cooperative rebalance that assigns a partition no
// member ever held, within milliseconds of a produce).
func (h *handler) commitClaimStart(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) {
	start := claim.HighWaterMarkOffset()
	if claim.InitialOffset() == sarama.OffsetOldest {
		oldest, err := h.client.GetOffset(claim.Topic(), claim.Partition(), sarama.OffsetOldest)
		if err != nil {
			h.p.log.Warn("reading the oldest offset to commit a partition's start", "source", h.src.Config.Name, "topic", claim.Topic(), "partition", claim.Partition(), "err", err)
			return
		}
		start = oldest
	}
	h.p.log.Info("partition has no committed offset: committing its start", "source", h.src.Config.Name, "topic", claim.Topic(), "partition", claim.Partition(), "offset", start)
	sess.MarkOffset(claim.Topic(), claim.Partition(), start, "")
	sess.Commit()
}

// claimStarted records that claim's consumption started, and returns
// the claim's context: the session's, ended early when a cooperative
// rebalance takes the partition away (see watchAssignment), so that a
// claim waiting in Submit (Redis down) lets its partition go at once
// instead of writing it later.
func (h *handler) claimStarted(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) context.Context {
	ctx, cancel := context.WithCancel(sess.Context())
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		h.running = map[topicPartition]context.CancelFunc{}
	}
	h.running[topicPartition{claim.Topic(), claim.Partition()}] = cancel
	h.checkAssigned(sess)
	return ctx
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
			if h.running[tp] == nil {
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
// cooperative rebalance that only takes partitions away starts no claim,
// and the claims of the partitions it took away are told (their
// contexts end).
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
			h.endRevoked(sess.Claims())
			for _, pt := range h.session {
				pt.pace()
			}
			h.mu.Unlock()
		}
	}
}

// forget drops pt from the session's partitions: a cooperative rebalance
// took it away, and released dealt with its writes.
func (h *handler) forget(pt *partition) {
	h.mu.Lock()
	h.session = slices.DeleteFunc(h.session, func(p *partition) bool { return p == pt })
	h.mu.Unlock()
}

// endRevoked ends the contexts of the running claims whose partitions
// are not in claims, the session's assignment now. h.mu is held.
func (h *handler) endRevoked(claims map[string][]int32) {
	for tp, cancel := range h.running {
		if !slices.Contains(claims[tp.topic], tp.partition) {
			cancel()
		}
	}
}

// claimEnded records that claim's consumption ended.
func (h *handler) claimEnded(claim sarama.ConsumerGroupClaim) {
	tp := topicPartition{claim.Topic(), claim.Partition()}
	h.mu.Lock()
	if cancel := h.running[tp]; cancel != nil {
		cancel()
	}
	delete(h.running, tp)
	h.mu.Unlock()
}

// released writes what the claim has in flight when its partition is
// revoked while the session goes on (a cooperative rebalance, where
// Cleanup does not run), so that sarama commits the partition's offset
// up to the last record consumed before it hands the partition over.
func (h *handler) released(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, pt *partition) {
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
		h.p.log.Warn("flushing writes of a revoked partition; its unwritten records will be read again by its new owner, and are not written by this process", "source", h.src.Config.Name, "topic", claim.Topic(), "partition", claim.Partition(), "err", err)
		pt.revoked.Store(true)
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
	h.src.observeGeneration(sess)
	defer h.src.observeGeneration(sess)
	pt := h.p.newPartition(h.src, h.client, h.dl, sess, claim.Topic(), claim.Partition(), claim.HighWaterMarkOffset)
	pt.source(claim.Messages(), claim)
	h.mu.Lock()
	h.session = append(h.session, pt)
	h.mu.Unlock()
	h.p.partitionStarted(pt)
	defer h.p.partitionEnded(pt)
	ctx := h.claimStarted(sess, claim)
	defer h.claimEnded(claim)
	if claim.InitialOffset() < 0 {
		// Only a claim of a cooperative rebalance gets here (Setup
		// committed the start of the others): the group has no offset for
		// the partition. Commit where the claim starts, at once.
		h.commitClaimStart(sess, claim)
	}
	h.p.watchCatchUp(pt, h.client, claim.InitialOffset(), claim.HighWaterMarkOffset())
	idle := pt.idleTicker()
	defer idle.Stop()
	for {
		select {
		case <-idle.C:
			pt.checkIdle()
		case msg, ok := <-claim.Messages():
			if !ok {
				h.released(sess, claim, pt)
				if sess.Context().Err() == nil {
					h.p.revoked(pt)
					h.forget(pt)
				}
				return nil
			}
			if !pt.handle(ctx, msg) {
				return nil
			}
		case <-ctx.Done():
			if sess.Context().Err() == nil {
				// Taken away by a cooperative rebalance while it waited:
				// flush what it submitted, as when its messages end.
				h.released(sess, claim, pt)
				h.p.revoked(pt)
				h.forget(pt)
			}
			return nil
		}
	}
}
