package pipeline

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// marker takes the offsets a tracker marks for commit: a consumer group
// session (sarama.ConsumerGroupSession is one), or nothing in a dry run.
type marker interface {
	MarkOffset(topic string, partition int32, offset int64, metadata string)
}

// noMarks is the marker of a dry run, which commits nothing.
type noMarks struct{}

func (noMarks) MarkOffset(string, int32, int64, string) {}

// tracker follows one partition's records from consumption to the
// acknowledged Redis writes they produced, and marks an offset for commit
// only once every record at or below it is fully written. Acks may arrive
// in any order and from any goroutine.
type tracker struct {
	marks     marker
	topic     string
	partition int32
	hwm       func() int64  // the partition's high watermark, for lag
	written   *atomic.Int64 // the run's count of acknowledged updates
	// fresh, when set, is told for each record with updates the time
	// from its Kafka timestamp to the ack of its last update.
	fresh func(time.Duration)
	// split, when set with fresh, is told for one timed record in
	// splitEvery that time split where the partition handed the record's
	// updates to the writer (see freshSplit).
	split func(toWriter, inWriter time.Duration)
	timed uint32 // records timed so far (add's goroutine only)

	// revoked is set once the run gave the partition up without writing
	// all of it (its flush at a revocation failed): the writer drops its
	// updates not written yet (sink.Revoker), and the new owner reads
	// them again.
	revoked atomic.Bool

	mu      sync.Mutex
	pending []pendingRecord // by increasing offset
	marked  int64           // the next offset to consume: everything below is written
	target  int64           // until caught up: done once marked >= target; -1 = no target
	onDone  func()          // called once when marked reaches target
	last    atomic.Int64    // offset of the last record consumed, for lag
}

type pendingRecord struct {
	offset    int64
	remaining int32
	nanos     int64 // Kafka timestamp (Unix nanoseconds) for freshness; 0: not timed
	handed    int64 // when added (Unix nanoseconds), for split; 0: not sampled
}

// splitEvery is how often a timed record is also timed where it is
// handed to the writer: one clock read per that many records.
const splitEvery = 64

func newTracker(marks marker, topic string, partition int32, hwm func() int64, written *atomic.Int64, fresh func(time.Duration)) *tracker {
	t := &tracker{marks: marks, topic: topic, partition: partition, hwm: hwm, written: written, fresh: fresh, marked: -1, target: -1}
	t.last.Store(-1)
	return t
}

// setTarget arranges for done to be called once every record below target
// is written; if start (the first offset to be consumed) is already at or
// past target, done is called at once.
func (t *tracker) setTarget(start, target int64, done func()) {
	t.mu.Lock()
	t.target, t.onDone = target, done
	if t.marked < 0 {
		t.marked = start
	}
	t.mu.Unlock()
	t.checkDone()
}

// add registers a consumed record that produced n updates; a record with
// none (all values null, or skipped) is done at once. ts is its Kafka
// timestamp, for freshness (zero: not timed).
func (t *tracker) add(offset int64, n int, ts time.Time) {
	t.last.Store(offset)
	var nanos, handed int64
	if n > 0 && t.fresh != nil && !ts.IsZero() {
		nanos = ts.UnixNano()
		if t.timed++; t.split != nil && t.timed%splitEvery == 0 {
			handed = time.Now().UnixNano()
		}
	}
	t.mu.Lock()
	if t.marked < 0 {
		t.marked = offset
	}
	t.pending = append(t.pending, pendingRecord{offset: offset, remaining: int32(n), nanos: nanos, handed: handed})
	advanced := t.advance()
	t.mu.Unlock()
	if advanced {
		t.checkDone()
	}
}

// Revoked implements sink.Revoker: see tracker.revoked.
func (t *tracker) Revoked() bool { return t.revoked.Load() }

// Ack implements sink.Acker: one update of the record at offset seq was
// written.
func (t *tracker) Ack(seq int64) { t.AckAt(seq, time.Time{}) }

// AckAt is Ack of an update Redis acknowledged at at (zero: now), which
// times the record's freshness when it is its last update
// (sink.AckTimer).
func (t *tracker) AckAt(seq int64, at time.Time) {
	t.written.Add(1)
	t.mu.Lock()
	i := sort.Search(len(t.pending), func(i int) bool { return t.pending[i].offset >= seq })
	if i < len(t.pending) && t.pending[i].offset == seq {
		pr := &t.pending[i]
		pr.remaining--
		if pr.remaining == 0 && pr.nanos != 0 {
			// Timed at its own last ack, not when its offset is marked:
			// a record does not wait here for earlier ones.
			if at.IsZero() {
				at = time.Now()
			}
			total := max(at.UnixNano()-pr.nanos, 0)
			t.fresh(time.Duration(total))
			if pr.handed != 0 {
				// The parts add up to the total, also when the Kafka
				// timestamp is ahead of this clock (a producer's).
				in := min(max(at.UnixNano()-pr.handed, 0), total)
				t.split(time.Duration(total-in), time.Duration(in))
			}
		}
	}
	advanced := t.advance()
	t.mu.Unlock()
	if advanced {
		t.checkDone()
	}
}

// advance pops the fully written records at the head and marks the offset
// after them. It reports whether anything was marked. t.mu is held.
func (t *tracker) advance() bool {
	n := 0
	for n < len(t.pending) && t.pending[n].remaining <= 0 {
		n++
	}
	if n == 0 {
		return false
	}
	t.marked = t.pending[n-1].offset + 1
	t.pending = t.pending[n:]
	if len(t.pending) == 0 {
		t.pending = t.pending[:0:0] // let the old backing array go
	}
	t.marks.MarkOffset(t.topic, t.partition, t.marked, "")
	return true
}

// short reports, while the target's done is not called yet and no
// consumed record waits for its writes, the offsets between the next one
// to consume and the target: what the partition must still read, unless
// no record a consumer receives is left there (see partition.checkIdle).
func (t *tracker) short() (from, target int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.onDone == nil || t.target < 0 || len(t.pending) > 0 || t.marked < 0 || t.marked >= t.target {
		return 0, 0, false
	}
	return t.marked, t.target, true
}

// doneIfAt calls the target's done, if it is not called yet, when the next
// offset to consume is still from and no consumed record waits for its
// writes: the offsets from there to the target hold no record to read.
func (t *tracker) doneIfAt(from int64) {
	t.mu.Lock()
	done := t.onDone
	if done == nil || t.marked != from || len(t.pending) > 0 {
		t.mu.Unlock()
		return
	}
	t.onDone = nil
	t.mu.Unlock()
	done()
}

func (t *tracker) checkDone() {
	t.mu.Lock()
	done := t.onDone
	if done == nil || t.target < 0 || t.marked < t.target {
		t.mu.Unlock()
		return
	}
	t.onDone = nil
	t.mu.Unlock()
	done()
}

// lag is how many records of the partition are not consumed yet.
func (t *tracker) lag() int64 {
	hwm := t.hwm()
	last := t.last.Load()
	if last < 0 {
		t.mu.Lock()
		last = t.marked - 1
		t.mu.Unlock()
		if last < -1 {
			return 0
		}
	}
	if l := hwm - last - 1; l > 0 {
		return l
	}
	return 0
}
