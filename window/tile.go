package window

import (
	"math"

	"github.com/feathrgo/feathr/feature"
)

// InputKind says what one event gives one aggregated feature.
type InputKind uint8

// The kinds of input.
const (
	// InputSkip: the event is not a row of the feature: its filter was
	// false or null. Nothing is aggregated, not even by COUNT.
	InputSkip InputKind = iota
	// InputNull: the event passed the filter and its agg_expr is null:
	// COUNT counts the row (its value is 0, not null, if it has rows);
	// the other functions skip it.
	InputNull
	// InputValue: the event passed the filter with a value, in the field
	// of Input that the function reads.
	InputValue
)

// Input is what one event gives one aggregated feature.
type Input struct {
	Kind InputKind
	// Num is the value for SUM, AVG, MIN and MAX (an integer as a double).
	Num float64
	// Vec is the vector for the POOLING functions, its elements as
	// doubles; its length is the dimension.
	Vec []float64
	// Value is LATEST's value, already converted to the declared type
	// and encoded as the stored feature value (FeatureValue base64); the
	// aggregate keeps it as opaque bytes.
	Value []byte
	// Hash is COUNT_DISTINCT's value: a 64-bit hash of it.
	Hash uint64
}

// Outcome is what aggregating one input did.
type Outcome uint8

// The outcomes.
const (
	Aggregated Outcome = iota // it changed the aggregate
	Skipped                   // filtered out, or null (but for COUNT)
	Late                      // older than the window and the allowed lateness
	Rejected                  // a vector whose length is not the feature's
)

// Tile is the partial aggregate of a feature's events in one tile, or the
// merge of several tiles (see Fold). The zero Tile is empty. Which fields
// a function uses:
//
//	COUNT           Rows, N
//	SUM, AVG        N, V (the sum)
//	MIN, MAX        N, V (the minimum or maximum)
//	LATEST          N, Time, Value
//	*_POOLING       N, Vec (the element-wise max, min or sum)
//	COUNT_DISTINCT  N, Set
type Tile struct {
	B     int64     // the tile number, floor(event time / hop)
	Rows  int64     // COUNT: the events that passed the filter
	N     int64     // the inputs aggregated (non-null, not rejected)
	V     float64   // SUM, AVG: the sum; MIN, MAX: the minimum or maximum
	Time  int64     // LATEST: the event time (unix ms) of Value
	Value []byte    // LATEST: the newest value, as Input.Value
	Vec   []float64 // POOLING: the element-wise aggregate; its length is the dimension
	// Set is COUNT_DISTINCT's exact set of hashes. In Redis, a tile is a
	// HyperLogLog key instead, and its encoding holds only B.
	Set map[uint64]struct{}
}

// reset empties t for tile b, keeping the memory of Vec.
func (t *Tile) reset(b int64) {
	*t = Tile{B: b, Vec: t.Vec[:0], Set: t.Set}
	clear(t.Set)
}

// Add aggregates one event's input into t, a tile of function f (or an
// accumulator); time is the event's time (unix ms). It does not check
// lateness (see Spec.Late) nor that time falls in tile t.B. A POOLING
// vector whose length is not t's is Rejected; t is then unchanged.
// Add does not allocate, but for the first vector of a tile whose Vec has
// no room and a new hash in Set.
func (f Func) Add(t *Tile, time int64, in Input) Outcome {
	if in.Kind == InputSkip {
		return Skipped
	}
	if f == Count {
		t.Rows++
		if in.Kind == InputValue {
			t.N++
		}
		return Aggregated
	}
	if in.Kind != InputValue {
		return Skipped
	}
	switch f {
	case Sum, Avg:
		t.V += in.Num
	case Min, Max:
		if t.N == 0 {
			t.V = in.Num
		} else {
			t.V = minMax(f, t.V, in.Num)
		}
	case Latest:
		if t.N == 0 || time >= t.Time {
			t.Time, t.Value = time, in.Value
		}
	case MaxPooling, MinPooling, AvgPooling:
		if !poolInto(f, t, in.Vec) {
			return Rejected
		}
	case CountDistinct:
		if t.Set == nil {
			t.Set = make(map[uint64]struct{})
		}
		t.Set[in.Hash] = struct{}{}
	}
	t.N++
	return Aggregated
}

// Merge merges src into dst, both tiles (or accumulators) of function f,
// as if src's events had been added to dst after dst's own: for LATEST, of
// equal times src's value wins. It reports false, leaving dst unchanged,
// when POOLING vectors differ in length. dst.B is kept.
func (f Func) Merge(dst, src *Tile) bool {
	switch f {
	case Count:
		dst.Rows += src.Rows
	case Sum, Avg:
		dst.V += src.V
	case Min, Max:
		if src.N == 0 {
			return true
		}
		if dst.N == 0 {
			dst.V = src.V
		} else {
			dst.V = minMax(f, dst.V, src.V)
		}
	case Latest:
		if src.N == 0 {
			return true
		}
		if dst.N == 0 || src.Time >= dst.Time {
			dst.Time, dst.Value = src.Time, src.Value
		}
	case MaxPooling, MinPooling, AvgPooling:
		if src.N == 0 {
			return true
		}
		if !poolInto(f, dst, src.Vec) {
			return false
		}
	case CountDistinct:
		if len(src.Set) > 0 && dst.Set == nil {
			dst.Set = make(map[uint64]struct{}, len(src.Set))
		}
		for h := range src.Set {
			dst.Set[h] = struct{}{}
		}
	}
	dst.N += src.N
	return true
}

// Fold sets dst to the merge of the tiles visible at read time T (unix
// ms), in the order given (tiles are kept sorted by B), reusing dst's
// memory: the partial aggregate of the window read at T, which Value
// finishes. A POOLING tile whose length differs from the first visible
// one is left out. Fold does not allocate once dst.Vec has room, but for
// COUNT_DISTINCT's set.
func (s Spec) Fold(dst *Tile, tiles []Tile, T int64) {
	first, last := s.VisibleRange(T)
	dst.reset(last)
	for i := range tiles {
		if tiles[i].B >= first && tiles[i].B <= last {
			s.Func.Merge(dst, &tiles[i])
		}
	}
}

// Value returns the value of an aggregate of function f (a Fold, or a
// tile): nil when it is null (see each Func), else, ready for Output:
//
//	COUNT, COUNT_DISTINCT     int64
//	SUM, AVG, MIN, MAX        float64
//	LATEST                    []byte (Input.Value, not copied)
//	*_POOLING                 []float64 (a new slice)
func (f Func) Value(t *Tile) any {
	switch f {
	case Count:
		if t.Rows == 0 {
			return nil
		}
		return t.N
	case CountDistinct:
		if t.N == 0 {
			return nil
		}
		return int64(len(t.Set))
	}
	if t.N == 0 {
		return nil
	}
	switch f {
	case Sum, Min, Max:
		return t.V
	case Avg:
		return t.V / float64(t.N)
	case Latest:
		return t.Value
	case AvgPooling:
		v := make([]float64, len(t.Vec))
		for i, x := range t.Vec {
			v[i] = x / float64(t.N)
		}
		return v
	case MaxPooling, MinPooling:
		return append([]float64{}, t.Vec...)
	}
	return nil
}

// Output converts v, a value Value or Reference.Value returned (but
// LATEST's, which is stored as given), to the declared type t as
// feature.Convert does (a double to an integer type truncates toward
// zero). A value that does not fit t (NaN or ±Inf to an integer type, out
// of t's range) is null, as the Redis script stores it: Output returns
// nil for it, as for a null v.
func Output(v any, t feature.Type) any {
	out, err := feature.Convert(v, t)
	if err != nil {
		return nil
	}
	return out
}

// minMax returns Java's Math.min (f Min or MinPooling) or Math.max of a
// and b: NaN if either is NaN; −0 is below +0.
func minMax(f Func, a, b float64) float64 {
	if a != a {
		return a
	}
	if b != b {
		return b
	}
	if a == b {
		if a == 0 && math.Signbit(a) != math.Signbit(b) {
			// Min of ±0 is −0, Max is +0.
			if f == Min || f == MinPooling {
				return math.Copysign(0, -1)
			}
			return 0
		}
		return a
	}
	if (a < b) == (f == Min || f == MinPooling) {
		return a
	}
	return b
}

// poolInto aggregates the vector v into t's, copying it when t is empty;
// it reports false, changing nothing, when their lengths differ.
func poolInto(f Func, t *Tile, v []float64) bool {
	switch {
	case t.N == 0:
		t.Vec = append(t.Vec[:0], v...)
	case len(v) != len(t.Vec):
		return false
	default:
		pool(f, t.Vec, v)
	}
	return true
}

// pool aggregates src into dst element-wise, both of one length.
func pool(f Func, dst, src []float64) {
	if f == AvgPooling {
		for i, x := range src {
			dst[i] += x
		}
		return
	}
	for i, x := range src {
		dst[i] = minMax(f, dst[i], x)
	}
}
