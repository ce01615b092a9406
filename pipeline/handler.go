package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/IBM/sarama"

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
	// starting counts the session's claims whose consumption has not
	// started yet; the last one to start logs that the source is ready.
	starting atomic.Int32
}

func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	n := 0
	for _, parts := range sess.Claims() {
		n += len(parts)
	}
	h.starting.Store(int32(n))
	h.p.log.Debug("joined consumer group", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group, "claims", sess.Claims())
	h.p.sessionStarted(sess)
	if n == 0 {
		h.p.log.Info("no partitions assigned", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group)
	}
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
	return nil
}

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	t := newTracker(sess, claim, &h.p.written)
	h.p.addTracker(t)
	defer h.p.removeTracker(t)
	// By now sarama has fixed the claim's starting offset, so with
	// start: latest every record produced after this line is read.
	if h.starting.Add(-1) == 0 {
		h.p.log.Info("partitions assigned", "source", h.src.Config.Name, "group", h.src.Config.Kafka.Group, "claims", sess.Claims())
	}
	if h.p.opts.UntilCaughtUp {
		h.setTarget(t, claim)
	}
	ctx := sess.Context()
	updates := make([]sink.Update, 0, len(h.src.Targets))
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
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
func (h *handler) handle(ctx context.Context, t *tracker, msg *sarama.ConsumerMessage, updates []sink.Update) ([]sink.Update, bool) {
	h.p.read.Add(1)
	rec, err := decode.Reuse(h.src.Decoder, msg.Value, t.rec)
	if err != nil {
		rerr := &RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Err: fmt.Errorf("decode: %w", err)}
		policy, topics := h.src.RecordPolicy()
		if !h.recordFailed(ctx, msg, rerr, policy, topics) {
			return updates, true
		}
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
		if !h.recordFailed(ctx, msg, rerr, m.OnError, topics) {
			return updates, true
		}
	}
	t.add(msg.Offset, len(updates))
	for _, u := range updates {
		u.Acker, u.Seq = t, msg.Offset
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
func (h *handler) recordFailed(ctx context.Context, msg *sarama.ConsumerMessage, rerr *RecordError, policy plan.OnError, dlTopics []string) bool {
	h.p.errs.Add(1)
	switch policy {
	case plan.Stop:
		h.p.log.Error("bad record; stopping (on_error: stop)", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
		h.p.fail(rerr)
		return false
	case plan.DeadLetter:
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
