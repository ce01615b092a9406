package pipeline

import (
	"testing"
	"time"
)

// markSession records the offsets marked through it.
type markSession struct {
	marked []int64
}

func (s *markSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.marked = append(s.marked, offset)
}

func TestFreshSession(t *testing.T) {
	inner := &markSession{}
	var got []time.Duration
	s := &freshSession{marker: inner, fresh: func(d time.Duration) { got = append(got, d) }}
	now := time.Now()
	s.push(10, now.Add(-3*time.Second))
	s.push(11, time.Time{}) // no timestamp: not timed
	s.push(12, now.Add(-2*time.Second))
	s.push(14, now.Add(time.Hour)) // a producer clock ahead: 0

	s.MarkOffset("t", 0, 11, "") // 10 written
	if len(got) != 1 || got[0] < 3*time.Second || got[0] > time.Minute {
		t.Fatalf("after marking 11: %v, want one ~3s", got)
	}
	s.MarkOffset("t", 0, 12, "") // 11 had updates but no timestamp; 12 not yet
	s.MarkOffset("t", 0, 15, "")
	if len(got) != 3 || got[1] < 2*time.Second || got[2] != 0 {
		t.Fatalf("after marking 15: %v, want ~3s, ~2s, 0", got)
	}
	if len(inner.marked) != 3 || inner.marked[2] != 15 {
		t.Errorf("marks forwarded: %v", inner.marked)
	}
	if len(s.pending) != 0 || s.head != 0 {
		t.Errorf("pending %v head %d after all were marked", s.pending, s.head)
	}
}

// BenchmarkFreshSession is the cost per record of timing freshness: a
// push when the record is consumed and its share of a mark.
func BenchmarkFreshSession(b *testing.B) {
	s := &freshSession{marker: noMarks{}, fresh: func(time.Duration) {}}
	ts := time.Now()
	for i := int64(0); b.Loop(); i++ {
		s.push(i, ts)
		if i%8 == 7 {
			s.MarkOffset("t", 0, i+1, "")
		}
	}
}
