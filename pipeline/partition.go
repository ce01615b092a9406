package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/internal/backoff"
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

// partition consumes one partition of a source in offset order, for a
// consumer group's claim or a dry run: each message through the record
// path, a bad record through its materialization's policy, the updates
// to the writer, and the record to the tracker, which marks its offset
// once they are acknowledged.
type partition struct {
	p    *Pipeline
	src  *source
	path recordPath
	*tracker
	writer  Writer        // the run's; a dry run's prints rows
	ackers  []targetAcker // as src.targets
	dl      *deadLetter   // nil unless a materialization dead-letters
	updates []sink.Update // reused from one record to the next
	// lastMessage is about when the partition's last message was
	// handled (the first tick of checkIdle that saw handled grow), or its
	// consumption started; lastProbe when checkIdle last asked the
	// broker; client asks it (until-caught-up, see checkIdle).
	lastMessage, lastProbe time.Time
	client                 sarama.Client
	handled, handledSeen   int64 // messages handled; as checkIdle last saw

	// What pace needs: the channel the messages come on, and the claim
	// or partition consumer that can stop fetching them (nil: never).
	msgs   <-chan *sarama.ConsumerMessage
	fetch  pauser
	avg    float64       // running average of a message's bytes (handle's)
	avgNow atomic.Uint64 // avg's bits, for pace
	paused bool          // pace's
}

// pauser stops and resumes the fetches of one partition: sarama's
// partition consumer, which its consumer group claims embed.
type pauser interface {
	Pause()
	Resume()
}

// partitionBufferBytes bounds, about, the bytes of the messages sarama
// holds for one partition: its channel holds 4096 messages, which with
// 100 KB records and Redis down would be 400 MB per partition.
const partitionBufferBytes = 8 << 20

// measure keeps the running average of the partition's message sizes,
// for pace.
func (pt *partition) measure(msg *sarama.ConsumerMessage) {
	size := float64(len(msg.Value) + len(msg.Key))
	if pt.avg == 0 {
		pt.avg = size
	}
	pt.avg += (size - pt.avg) / 64
	pt.avgNow.Store(math.Float64bits(pt.avg))
}

// pace pauses the partition's fetches while the messages waiting in its
// channel hold more than partitionBufferBytes (by the running average of
// a message's size), and resumes them below half of it. It runs often
// (every 100 ms), from one goroutine, while the partition may be blocked
// (Redis down): what lands meanwhile, and a fetch already in flight, are
// over the bound.
func (pt *partition) pace() {
	if pt.fetch == nil {
		return
	}
	waiting := float64(len(pt.msgs)) * math.Float64frombits(pt.avgNow.Load())
	switch {
	case !pt.paused && waiting > partitionBufferBytes:
		pt.fetch.Pause()
		pt.paused = true
	case pt.paused && waiting < partitionBufferBytes/2:
		pt.fetch.Resume()
		pt.paused = false
	}
}

// source sets where the partition's messages come from: msgs, and the
// claim or partition consumer src, which pace pauses when it implements
// pauser.
func (pt *partition) source(msgs <-chan *sarama.ConsumerMessage, src any) {
	pt.msgs = msgs
	pt.fetch, _ = src.(pauser)
}

// newPartition returns the consumer of one partition of src, whose
// tracker marks offsets through marks and reads the high watermark from
// hwm.
func (p *Pipeline) newPartition(src *source, client sarama.Client, dl *deadLetter, marks marker, topic string, part int32, hwm func() int64) *partition {
	pt := &partition{p: p, src: src, client: client, path: recordPath{src: src}, dl: dl, writer: p.opts.Writer, lastMessage: time.Now()}
	var fresh func(time.Duration)
	if !p.dryRun {
		fresh = p.fresh.Observe
	}
	pt.tracker = newTracker(marks, topic, part, hwm, &p.written, fresh)
	pt.tracker.split = p.freshSplit.observe
	pt.ackers = make([]targetAcker, len(src.targets))
	for i, t := range src.targets {
		pt.ackers[i] = targetAcker{t: pt.tracker, c: t}
	}
	return pt
}

// acker returns the Acker of an update to table.
func (pt *partition) acker(table *sink.Table) sink.Acker {
	for i := range pt.ackers {
		if pt.ackers[i].c.table == table {
			return &pt.ackers[i]
		}
	}
	return pt.tracker
}

// handle processes one message and reports whether consumption of the
// partition goes on: it does not after a bad record under on_error: stop,
// or when the run is ending.
func (pt *partition) handle(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	pt.handled++
	pt.measure(msg)
	p := pt.p
	p.read.Add(1)
	pt.src.read.Add(1)
	pt.path.pos = kafkaPos{msg.Topic, msg.Partition, msg.Offset}
	updates, errs := pt.path.process(msg.Value, msg.Timestamp, pt.updates[:0])
	for attempt := 0; registryFailed(errs); attempt++ {
		// An outage, not a bad record: the partition waits (nothing is
		// marked, its fetches pause once sarama's buffer is full) and
		// decodes the message again.
		err := errs[0].err
		if errors.Is(err, decode.ErrRegistryRefused) {
			p.fail(fmt.Errorf("%s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err))
			return false
		}
		pt.src.registryRetries.Add(1)
		d := backoff.Delay(attempt, 100*time.Millisecond, 5*time.Second)
		p.outageLog.log("schema registry unavailable; the partition waits and decodes the record again", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "retry_in", d.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, d) {
			return false
		}
		updates, errs = pt.path.process(msg.Value, msg.Timestamp, updates[:0])
	}
	pt.updates = updates
	for _, e := range errs {
		if !pt.failed(msg, e) {
			return false
		}
	}
	pt.add(msg.Offset, len(updates), msg.Timestamp)
	for _, u := range updates {
		u.Acker, u.Seq = pt.acker(u.Table), msg.Offset
		if err := pt.writer.Submit(ctx, u); err != nil {
			// The run is ending (or the sink failed for good): this record
			// stays unacknowledged, so its offset is never committed.
			if !errors.Is(err, context.Canceled) {
				p.fail(fmt.Errorf("redis: %w", err))
			}
			return false
		}
	}
	return true
}

// registryFailed reports whether errs is a decode that the schema
// registry failed (an outage or a refusal), rather than a bad record.
func registryFailed(errs []*evalError) bool {
	return len(errs) == 1 && errs[0].kind == kindDecode &&
		(errors.Is(errs[0].err, decode.ErrRegistryUnavailable) || errors.Is(errs[0].err, decode.ErrRegistryRefused))
}

// failed counts and logs a bad record and applies its policy: that of
// the failing target's materialization, or for a record that could not be
// decoded the strictest of the source's. It reports whether consumption
// goes on past the record. A dry run only logs the policy that would apply.
func (pt *partition) failed(msg *sarama.ConsumerMessage, e *evalError) bool {
	p := pt.p
	rerr := &RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Err: e}
	var policy config.OnError
	var topics []string
	switch t := e.target; e.kind {
	case kindDecode, kindEventTime:
		if e.kind == kindDecode {
			pt.src.decodeErrs.Add(1)
		} else {
			pt.src.timeErrs.Add(1)
		}
		policy, topics = pt.src.RecordPolicy()
	default:
		rerr.Materialization = t.name
		if e.kind == kindKey {
			t.keyErrs.Add(1)
		} else {
			t.fnErrs.Add(1)
		}
		policy = t.Materialization.OnError
		if topic := t.Materialization.DeadLetterTopic(); topic != "" {
			topics = []string{topic}
		}
	}
	p.errs.Add(1)
	if p.dryRun {
		p.errLog.log("bad record (dry run: on_error: "+policy.String()+" would apply)", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
		return true
	}
	switch policy {
	case config.Stop:
		p.log.Error("bad record; stopping (on_error: stop)", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
		p.fail(rerr)
		return false
	case config.DeadLetter:
		for _, topic := range topics {
			if err := pt.dl.send(msg, topic, rerr); err != nil {
				p.log.Error("cannot write to the dead-letter topic; stopping", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "dead_letter", topic, "err", err)
				p.fail(fmt.Errorf("dead-letter %s for %s/%d@%d: %w", topic, rerr.Topic, rerr.Partition, rerr.Offset, err))
				return false
			}
		}
		p.dead.Add(1)
		p.errLog.log("bad record sent to the dead-letter topic", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "dead_letter", topics, "err", rerr.Err)
	default:
		p.skipped.Add(1)
		p.errLog.log("bad record skipped", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
	}
	pt.src.countFailed(e.target, policy)
	return true
}
