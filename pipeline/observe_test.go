package pipeline

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestTrackerFreshness checks that a record is timed when its own last
// update is acknowledged, not when its offset is marked: a record written
// before an earlier one does not wait for it.
func TestTrackerFreshness(t *testing.T) {
	var got []time.Duration
	tr := newTracker(noMarks{}, "t", 0, func() int64 { return 0 }, new(atomic.Int64), func(d time.Duration) { got = append(got, d) })
	now := time.Now()
	tr.add(10, 1, now.Add(-3*time.Second))
	tr.add(11, 2, now.Add(-2*time.Second))
	tr.add(12, 0, now.Add(-time.Second)) // no update: not timed
	tr.add(13, 1, time.Time{})           // no timestamp: not timed
	tr.add(14, 1, now.Add(time.Hour))    // a producer clock ahead: 0

	tr.Ack(11) // one of two updates: not yet
	if len(got) != 0 {
		t.Fatalf("after half of 11: %v, want nothing", got)
	}
	tr.Ack(11) // 11 is written while 10 is not
	if len(got) != 1 || got[0] < 2*time.Second || got[0] > time.Minute {
		t.Fatalf("after 11: %v, want one ~2s, before 10 is written", got)
	}
	tr.Ack(10)
	tr.Ack(13)
	tr.Ack(14)
	if len(got) != 3 || got[1] < 3*time.Second || got[2] != 0 {
		t.Fatalf("after all: %v, want ~2s, ~3s, 0", got)
	}
}

// TestTrackerFreshnessSplit checks that one timed record in splitEvery
// is also timed where it was handed to the writer, and that its two parts
// add up to its freshness.
func TestTrackerFreshnessSplit(t *testing.T) {
	var total []time.Duration
	type part struct{ toWriter, inWriter time.Duration }
	var parts []part
	tr := newTracker(noMarks{}, "t", 0, func() int64 { return 0 }, new(atomic.Int64), func(d time.Duration) { total = append(total, d) })
	tr.split = func(to, in time.Duration) { parts = append(parts, part{to, in}) }
	ts := time.Now().Add(-2 * time.Second)
	tr.add(0, 0, ts)          // no update: not timed, not counted
	tr.add(1, 1, time.Time{}) // no timestamp: likewise
	for off := int64(2); off < 2+2*splitEvery; off++ {
		tr.add(off, 1, ts)
	}
	time.Sleep(20 * time.Millisecond) // the writer's share
	for off := int64(1); off < 2+2*splitEvery; off++ {
		tr.Ack(off)
	}
	if len(total) != 2*splitEvery || len(parts) != 2 {
		t.Fatalf("timed %d records, split %d; want %d and 2", len(total), len(parts), 2*splitEvery)
	}
	// The sampled ones are the splitEvery-th and the last.
	for i, p := range parts {
		d := total[(i+1)*splitEvery-1]
		if p.toWriter < 2*time.Second || p.inWriter < 20*time.Millisecond || p.toWriter+p.inWriter != d {
			t.Errorf("split %d = %v + %v of %v, want ~2s + ≥20ms adding up", i, p.toWriter, p.inWriter, d)
		}
	}
	// A timestamp ahead of this clock (a producer's): a freshness of 0,
	// and parts that still add up to it.
	total, parts = nil, nil
	ahead := time.Now().Add(time.Hour)
	for off := int64(1000); off < 1000+splitEvery; off++ {
		tr.add(off, 1, ahead)
	}
	time.Sleep(5 * time.Millisecond)
	for off := int64(1000); off < 1000+splitEvery; off++ {
		tr.Ack(off)
	}
	if len(parts) != 1 || parts[0] != (part{}) || total[len(total)-1] != 0 {
		t.Errorf("ahead of the clock: split %v of %v, want one 0 + 0 of 0", parts, total)
	}
}

// BenchmarkTrackerFreshness is the cost per record of a tracker that
// times freshness: add, and the ack of its one update.
func BenchmarkTrackerFreshness(b *testing.B) {
	tr := newTracker(noMarks{}, "t", 0, func() int64 { return 0 }, new(atomic.Int64), func(time.Duration) {})
	ts := time.Now()
	for i := int64(0); b.Loop(); i++ {
		tr.add(i, 1, ts)
		tr.Ack(i)
	}
}
