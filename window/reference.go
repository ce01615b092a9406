package window

import "slices"

// Reference computes a feature's window values by brute force, for tests:
// it keeps every event it aggregates and computes the value read at T
// from the definition (the events whose tile is visible at T), without
// tiles or their merge. Its values are those of Func.Value: pass them to
// Output.
//
// Add must be given the events in the order they are applied, each with
// the writer's wall clock of its write, which must not decrease.
type Reference struct {
	Spec   Spec
	events []refEvent
}

type refEvent struct {
	time int64
	in   Input
}

// NewReference returns an empty reference of s.
func NewReference(s Spec) *Reference { return &Reference{Spec: s} }

// Add applies one event at time t (unix ms), written when the writer's
// wall clock is now, and returns what it did: Skipped (filtered out; a
// null but for COUNT), Late (t ≤ now − window − lateness), Rejected (a
// POOLING vector whose length differs from that of an aggregated vector
// whose tile has not expired at now), else Aggregated.
func (r *Reference) Add(now, t int64, in Input) Outcome {
	s := r.Spec
	if in.Kind == InputSkip {
		return Skipped
	}
	if s.Late(t, now) {
		return Late
	}
	if in.Kind == InputNull && s.Func != Count {
		return Skipped
	}
	if s.Func.IsPooling() {
		for _, e := range r.events {
			if !s.Expired(s.TileOf(e.time), now) && len(e.in.Vec) != len(in.Vec) {
				return Rejected
			}
		}
	}
	in.Vec = slices.Clone(in.Vec)
	in.Value = slices.Clone(in.Value)
	r.events = append(r.events, refEvent{t, in})
	return Aggregated
}

// Value returns the value read at T (unix ms): the function of the events
// whose tile b = floor(t/hop) has (b+1)·hop > T − window and b·hop ≤ T;
// nil when null.
func (r *Reference) Value(T int64) any {
	s := r.Spec
	var (
		rows, n  int64
		sum, v   float64
		latest   []byte
		latestAt int64
		vec      []float64
		distinct = map[uint64]bool{}
	)
	for _, e := range r.events {
		if !s.Visible(s.TileOf(e.time), T) {
			continue
		}
		rows++
		if e.in.Kind != InputValue {
			continue
		}
		switch s.Func {
		case Sum, Avg:
			sum += e.in.Num
		case Min, Max:
			if n == 0 {
				v = e.in.Num
			} else {
				v = minMax(s.Func, v, e.in.Num)
			}
		case Latest:
			if n == 0 || e.time >= latestAt {
				latest, latestAt = e.in.Value, e.time
			}
		case MaxPooling, MinPooling, AvgPooling:
			if n == 0 {
				vec = slices.Clone(e.in.Vec)
			} else {
				pool(s.Func, vec, e.in.Vec)
			}
		case CountDistinct:
			distinct[e.in.Hash] = true
		}
		n++
	}
	if s.Func == Count {
		if rows == 0 {
			return nil
		}
		return n
	}
	if n == 0 {
		return nil
	}
	switch s.Func {
	case Sum:
		return sum
	case Avg:
		return sum / float64(n)
	case Min, Max:
		return v
	case Latest:
		return latest
	case AvgPooling:
		for i := range vec {
			vec[i] /= float64(n)
		}
		return append([]float64{}, vec...)
	case MaxPooling, MinPooling:
		return append([]float64{}, vec...)
	case CountDistinct:
		return int64(len(distinct))
	}
	return nil
}

// MaxTime returns the newest event time aggregated, and false when none
// was.
func (r *Reference) MaxTime() (int64, bool) {
	if len(r.events) == 0 {
		return 0, false
	}
	m := r.events[0].time
	for _, e := range r.events[1:] {
		m = max(m, e.time)
	}
	return m, true
}
