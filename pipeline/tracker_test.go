package pipeline

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// fakeSession is a sarama.ConsumerGroupSession that records MarkOffset
// calls. check, if set, is called with each marked offset, under mu.
type fakeSession struct {
	mu     sync.Mutex
	marks  []int64
	check  func(offset int64)
	errors []string
}

var _ sarama.ConsumerGroupSession = (*fakeSession)(nil)

func (s *fakeSession) Claims() map[string][]int32 { return map[string][]int32{"t": {3}} }
func (s *fakeSession) MemberID() string           { return "member" }
func (s *fakeSession) GenerationID() int32        { return 1 }
func (s *fakeSession) Commit()                    {}
func (s *fakeSession) Context() context.Context   { return context.Background() }
func (s *fakeSession) ResetOffset(string, int32, int64, string) {
	panic("ResetOffset called")
}
func (s *fakeSession) MarkMessage(*sarama.ConsumerMessage, string) {
	panic("MarkMessage called")
}

func (s *fakeSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if topic != "t" || partition != 3 || metadata != "" {
		s.errors = append(s.errors, "MarkOffset of another partition: "+topic)
	}
	if n := len(s.marks); n > 0 && offset <= s.marks[n-1] {
		s.errors = append(s.errors, "offset marked again or backwards")
	}
	if s.check != nil {
		s.check(offset)
	}
	s.marks = append(s.marks, offset)
}

// result returns the marks so far, failing t on the errors seen.
func (s *fakeSession) result(t *testing.T) []int64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errors {
		t.Error(e)
	}
	return slices.Clone(s.marks)
}

// fakeClaim is partition 3 of topic "t".
type fakeClaim struct {
	initial, hwm int64
}

var _ sarama.ConsumerGroupClaim = (*fakeClaim)(nil)

func (c *fakeClaim) Topic() string                            { return "t" }
func (c *fakeClaim) Partition() int32                         { return 3 }
func (c *fakeClaim) InitialOffset() int64                     { return c.initial }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return c.hwm }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return nil }

func newTestTracker(t *testing.T, hwm int64) (*tracker, *fakeSession, *atomic.Int64) {
	t.Helper()
	sess := &fakeSession{}
	written := new(atomic.Int64)
	c := &fakeClaim{initial: sarama.OffsetOldest, hwm: hwm}
	return newTracker(sess, c.Topic(), c.Partition(), c.HighWaterMarkOffset, written, nil), sess, written
}

// step is one call on a tracker: add(offset, n) or, with ack, Ack(offset).
type step struct {
	ack    bool
	offset int64
	n      int
}

func add(offset int64, n int) step { return step{offset: offset, n: n} }
func ack(offset int64) step        { return step{ack: true, offset: offset} }

func TestTrackerMarks(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []int64 // the offsets marked, in order
	}{
		{"nothing", nil, nil},
		{"added, not acked", []step{add(0, 1), add(1, 1)}, nil},
		{"in order", []step{add(0, 1), ack(0), add(1, 1), ack(1)}, []int64{1, 2}},
		{"out of order",
			[]step{add(0, 1), add(1, 1), add(2, 1), add(3, 1), add(4, 1),
				ack(2), ack(1), ack(0), ack(4), ack(3)},
			[]int64{3, 5}},
		{"no updates: done at once", []step{add(5, 0)}, []int64{6}},
		{"no updates behind a pending record",
			[]step{add(0, 1), add(1, 0), add(2, 0), ack(0)},
			[]int64{3}},
		{"no updates between pending records",
			[]step{add(0, 1), add(1, 0), add(2, 1), ack(2), ack(0)},
			[]int64{3}},
		{"several updates",
			[]step{add(0, 3), add(1, 2), ack(0), ack(1), ack(0), ack(1), ack(0)},
			[]int64{2}},
		{"several updates, partly acked",
			[]step{add(0, 3), add(1, 1), ack(1), ack(0), ack(0)},
			nil},
		{"gaps in offsets",
			[]step{add(10, 1), add(15, 1), add(20, 0), ack(15), ack(10)},
			[]int64{21}},
		{"unknown and late acks are ignored",
			[]step{add(0, 1), ack(7), ack(0), ack(0), add(1, 1), ack(1)},
			[]int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, sess, written := newTestTracker(t, 100)
			var acks int64
			for _, s := range tt.steps {
				if s.ack {
					tr.Ack(s.offset)
					acks++
				} else {
					tr.add(s.offset, s.n, time.Time{})
				}
			}
			if got := sess.result(t); !slices.Equal(got, tt.want) {
				t.Errorf("marked %v, want %v", got, tt.want)
			}
			if written.Load() != acks {
				t.Errorf("written = %d, want %d acks", written.Load(), acks)
			}
		})
	}
}

// TestTrackerConcurrentAcks acknowledges the updates of many records from
// many goroutines in random order, and checks at every mark that each
// record below it was fully acknowledged.
func TestTrackerConcurrentAcks(t *testing.T) {
	const (
		records    = 2000
		goroutines = 16
	)
	tr, sess, written := newTestTracker(t, records)
	rng := rand.New(rand.NewPCG(1, 2))
	need := make([]int, records)           // updates of each record
	acked := make([]atomic.Int32, records) // acks started for each record
	total := 0
	for off := range records {
		need[off] = rng.IntN(4) // 0 to 3 updates
		total += need[off]
	}
	var low int64 // every record below low was checked complete
	sess.check = func(mark int64) {
		for ; low < mark; low++ {
			if got := int(acked[low].Load()); got < need[low] {
				t.Errorf("offset %d marked while record %d has %d of %d acks", mark, low, got, need[low])
			}
		}
	}

	work := make(chan int64, total)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				acked[seq].Add(1)
				tr.Ack(seq)
			}
		}()
	}
	// The records are added in order, as a partition is consumed; the
	// updates of each window of records are submitted shuffled, after
	// their records were added, and acknowledged concurrently.
	var window []int64
	flush := func() {
		rng.Shuffle(len(window), func(i, j int) { window[i], window[j] = window[j], window[i] })
		for _, seq := range window {
			work <- seq
		}
		window = window[:0]
	}
	for off := range records {
		tr.add(int64(off), need[off], time.Time{})
		for range need[off] {
			window = append(window, int64(off))
		}
		if off%50 == 49 {
			flush()
		}
	}
	flush()
	close(work)
	wg.Wait()

	marks := sess.result(t)
	if len(marks) == 0 || marks[len(marks)-1] != records {
		t.Fatalf("last mark = %v, want %d", marks[max(len(marks)-1, 0):], records)
	}
	if int(written.Load()) != total {
		t.Errorf("written = %d, want %d", written.Load(), total)
	}
	if l := tr.lag(); l != 0 {
		t.Errorf("lag = %d, want 0", l)
	}
}

func TestTrackerTarget(t *testing.T) {
	tests := []struct {
		name          string
		start, target int64
		steps         []step
		wantDone      int // calls of done after the steps (done is called at most once)
		doneAtSet     bool
	}{
		{"empty partition", 0, 0, nil, 1, true},
		{"start at target", 5, 5, nil, 1, true},
		{"start past target", 7, 5, []step{add(7, 1), ack(7)}, 1, true},
		{"not reached", 0, 3, []step{add(0, 1), add(1, 1), add(2, 1), ack(0), ack(1)}, 0, false},
		{"reached by the last ack", 0, 3, []step{add(0, 1), add(1, 1), add(2, 1), ack(2), ack(0), ack(1)}, 1, false},
		{"reached by a record without updates", 0, 3, []step{add(0, 1), add(1, 1), ack(0), ack(1), add(2, 0)}, 1, false},
		{"called once past the target", 0, 2, []step{add(0, 1), add(1, 1), ack(0), ack(1), add(2, 1), ack(2), add(3, 0)}, 1, false},
		// OffsetOldest maps to start 0; the first record may be later.
		{"first record after start", 0, 12, []step{add(10, 1), add(11, 2), ack(10), ack(11), ack(11)}, 1, false},
		{"first record after start, not reached", 0, 12, []step{add(10, 1), add(11, 2), ack(10), ack(11)}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _, _ := newTestTracker(t, tt.target)
			var done atomic.Int32
			tr.setTarget(tt.start, tt.target, func() { done.Add(1) })
			if got := done.Load() == 1; got != tt.doneAtSet {
				t.Errorf("done at setTarget = %v, want %v", got, tt.doneAtSet)
			}
			for _, s := range tt.steps {
				if s.ack {
					tr.Ack(s.offset)
				} else {
					tr.add(s.offset, s.n, time.Time{})
				}
			}
			if got := int(done.Load()); got != tt.wantDone {
				t.Errorf("done called %d times, want %d", got, tt.wantDone)
			}
		})
	}
}

// TestTrackerTargetConcurrent reaches the target with acks from many
// goroutines: done must be called exactly once, after the last record
// below the target is written.
func TestTrackerTargetConcurrent(t *testing.T) {
	const records = 500
	for round := range 20 {
		tr, _, _ := newTestTracker(t, records)
		var done atomic.Int32
		var acks atomic.Int32
		tr.setTarget(0, records, func() {
			if n := acks.Load(); n != records {
				t.Errorf("round %d: done after %d of %d acks", round, n, records)
			}
			done.Add(1)
		})
		for off := range records {
			tr.add(int64(off), 1, time.Time{})
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for off := g; off < records; off += 8 {
					acks.Add(1)
					tr.Ack(int64(off))
				}
			}()
		}
		wg.Wait()
		if n := done.Load(); n != 1 {
			t.Fatalf("round %d: done called %d times, want 1", round, n)
		}
	}
}

func TestTrackerLag(t *testing.T) {
	tr, _, _ := newTestTracker(t, 10)
	if l := tr.lag(); l != 0 {
		t.Errorf("lag before anything = %d, want 0", l)
	}
	tr.setTarget(3, 10, func() {})
	if l := tr.lag(); l != 7 {
		t.Errorf("lag after setTarget(3) = %d, want 7", l)
	}
	tr.add(3, 1, time.Time{})
	tr.add(4, 1, time.Time{})
	if l := tr.lag(); l != 5 {
		t.Errorf("lag after consuming offset 4 of 10 = %d, want 5", l)
	}
	tr.add(9, 0, time.Time{})
	if l := tr.lag(); l != 0 {
		t.Errorf("lag at the high watermark = %d, want 0", l)
	}
}
