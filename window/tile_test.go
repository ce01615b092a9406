package window

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
)

func num(x float64) Input      { return Input{Kind: InputValue, Num: x} }
func vec(x ...float64) Input   { return Input{Kind: InputValue, Vec: x} }
func str(s string) Input       { return Input{Kind: InputValue, Value: []byte(s)} }
func hash(h uint64) Input      { return Input{Kind: InputValue, Hash: h} }
func negZero() float64         { return math.Copysign(0, -1) }
func skip() Input              { return Input{} }
func null() Input              { return Input{Kind: InputNull} }
func at(t int64, in Input) ev  { return ev{t, in} }
func same(a, b any) bool       { return sameValue(a, b) }
func bitsOf(f float64) uint64  { return math.Float64bits(f) }
func isNegZero(f float64) bool { return f == 0 && math.Signbit(f) }

type ev struct {
	t  int64
	in Input
}

// sameValue reports whether two values of Value are equal: floats bit for
// bit, or both NaN.
func sameValue(a, b any) bool {
	fe := func(x, y float64) bool { return bitsOf(x) == bitsOf(y) || x != x && y != y }
	switch x := a.(type) {
	case nil:
		return b == nil
	case float64:
		y, ok := b.(float64)
		return ok && fe(x, y)
	case []float64:
		y, ok := b.([]float64)
		return ok && len(x) == len(y) && eqFloats(x, y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	}
	return false
}

func eqFloats(x, y []float64) bool {
	for i := range x {
		if bitsOf(x[i]) != bitsOf(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
			return false
		}
	}
	return true
}

// TestSemantics checks each function's value on small cases, through one
// tile (Add), through tiles merged (Add per event, Merge in order) and
// through the Reference.
func TestSemantics(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		f    Func
		evs  []ev
		want any
	}{
		{Count, nil, nil},
		{Count, []ev{at(1, skip()), at(2, skip())}, nil},
		{Count, []ev{at(1, null()), at(2, skip())}, int64(0)},
		{Count, []ev{at(1, num(5)), at(2, null()), at(3, num(0))}, int64(2)},
		{Sum, []ev{at(1, null())}, nil},
		{Sum, []ev{at(1, num(2.5)), at(2, null()), at(3, num(-1))}, 1.5},
		{Avg, []ev{at(1, num(1)), at(2, null()), at(3, num(2))}, 1.5},
		{Avg, []ev{at(1, skip())}, nil},
		{Min, []ev{at(1, num(3)), at(2, num(-2)), at(3, num(7))}, -2.0},
		{Max, []ev{at(1, num(3)), at(2, num(nan)), at(3, num(7))}, nan},
		{Min, []ev{at(1, num(nan)), at(2, num(1))}, nan},
		{Max, []ev{at(1, num(negZero())), at(2, num(0))}, 0.0},
		{Max, []ev{at(1, num(0)), at(2, num(negZero()))}, 0.0},
		{Min, []ev{at(1, num(0)), at(2, num(negZero()))}, negZero()},
		{Min, []ev{at(1, num(negZero())), at(2, num(0))}, negZero()},
		{Max, []ev{at(1, num(negZero()))}, negZero()},
		{Latest, []ev{at(5, str("a")), at(3, str("b")), at(4, null())}, []byte("a")},
		{Latest, []ev{at(5, str("a")), at(5, str("b"))}, []byte("b")},
		{Latest, []ev{at(5, null())}, nil},
		{MaxPooling, []ev{at(1, vec(1, 5)), at(2, vec(3, 2)), at(3, null())}, []float64{3, 5}},
		{MinPooling, []ev{at(1, vec(1, 5)), at(2, vec(3, 2))}, []float64{1, 2}},
		{AvgPooling, []ev{at(1, vec(1, 5)), at(2, null()), at(3, vec(3, 2))}, []float64{2, 3.5}},
		{AvgPooling, []ev{at(1, vec())}, []float64{}},
		{MaxPooling, []ev{at(1, null())}, nil},
		{CountDistinct, []ev{at(1, hash(7)), at(2, hash(7)), at(3, null()), at(4, hash(9))}, int64(2)},
		{CountDistinct, []ev{at(1, null())}, nil},
	} {
		name := fmt.Sprintf("%v%v", tc.f, tc.evs)
		s := Spec{tc.f, 10 * time.Second, time.Second, time.Second}
		var one Tile
		for _, e := range tc.evs {
			tc.f.Add(&one, e.t, e.in)
		}
		if got := tc.f.Value(&one); !same(got, tc.want) {
			t.Errorf("%s: one tile: %v, want %v", name, got, tc.want)
		}
		var merged Tile
		for _, e := range tc.evs {
			var x Tile
			tc.f.Add(&x, e.t, e.in)
			tc.f.Merge(&merged, &x)
		}
		if got := tc.f.Value(&merged); !same(got, tc.want) {
			t.Errorf("%s: merged: %v, want %v", name, got, tc.want)
		}
		ref := NewReference(s)
		for _, e := range tc.evs {
			ref.Add(0, e.t, e.in)
		}
		if got := ref.Value(0); !same(got, tc.want) {
			t.Errorf("%s: reference: %v, want %v", name, got, tc.want)
		}
	}
	if isNegZero(minMax(Max, negZero(), 0)) || !isNegZero(minMax(Min, 0, negZero())) {
		t.Error("minMax does not order ±0 as Java")
	}
}

func TestPoolingRejects(t *testing.T) {
	var tile Tile
	if o := MaxPooling.Add(&tile, 1, vec(1, 2)); o != Aggregated {
		t.Fatal(o)
	}
	if o := MaxPooling.Add(&tile, 2, vec(1, 2, 3)); o != Rejected {
		t.Fatalf("a longer vector: %v", o)
	}
	other := Tile{}
	MaxPooling.Add(&other, 3, vec(9))
	if MaxPooling.Merge(&tile, &other) {
		t.Fatal("merged tiles of different lengths")
	}
	if got := MaxPooling.Value(&tile); !same(got, []float64{1, 2}) || tile.N != 1 {
		t.Fatalf("after rejects: %v (n %d)", got, tile.N)
	}
	// The reference rejects by the feature's live tiles: once the tile of
	// the other length has expired, a new length is accepted.
	s := Spec{MaxPooling, 10 * time.Second, time.Second, 0}
	ref := NewReference(s)
	if o := ref.Add(1000, 500, vec(1, 2)); o != Aggregated {
		t.Fatal(o)
	}
	if o := ref.Add(5000, 4000, vec(1)); o != Rejected {
		t.Fatalf("while the tile lives: %v", o)
	}
	if o := ref.Add(11000, 10500, vec(1)); o != Aggregated {
		t.Fatalf("after it expired: %v", o)
	}
	if o := ref.Add(11000, 1000, vec(1)); o != Late {
		t.Fatalf("late: %v", o)
	}
}

// randomInput returns a random input for f. Numbers are multiples of 1/4
// under 2^20, so that sums are exact in any order.
func randomInput(r *rand.Rand, f Func, dim int) Input {
	switch r.IntN(10) {
	case 0:
		return skip()
	case 1:
		return null()
	}
	n := func() float64 { return float64(r.IntN(1<<22)-1<<21) / 4 }
	switch f {
	case Min, Max:
		switch r.IntN(40) {
		case 0:
			return num(math.NaN())
		case 1:
			return num(negZero())
		case 2:
			return num(0)
		}
		return num(n())
	case Latest:
		return str(fmt.Sprint(r.Uint32()))
	case MaxPooling, MinPooling, AvgPooling:
		v := make([]float64, dim)
		for i := range v {
			v[i] = n()
		}
		return vec(v...)
	case CountDistinct:
		return hash(r.Uint64N(50))
	}
	return num(n())
}

// TestMergeAnyOrder: for every function, random events accumulated in one
// tile, or split at random into tiles merged in a random order (LATEST:
// in order, as its ties go to the later), give the same value.
func TestMergeAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, f := range Funcs() {
		for iter := range 300 {
			n := r.IntN(30)
			evs := make([]ev, n)
			for i := range evs {
				tm := int64(r.IntN(1000))
				if f == Latest && iter%2 == 0 {
					tm = int64(i) // distinct times: any order
				}
				evs[i] = at(tm, randomInput(r, f, 3))
			}
			var whole Tile
			for _, e := range evs {
				f.Add(&whole, e.t, e.in)
			}
			want := f.Value(&whole)
			// Split into contiguous chunks, each a tile.
			var chunks []Tile
			for i := 0; i < n; {
				j := i + 1 + r.IntN(n-i)
				var c Tile
				for _, e := range evs[i:j] {
					f.Add(&c, e.t, e.in)
				}
				chunks = append(chunks, c)
				i = j
			}
			ordered := f != Latest || iter%2 == 1
			if !ordered {
				r.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
			}
			// Merge as a random tree of adjacent pairs.
			for len(chunks) > 1 {
				i := r.IntN(len(chunks) - 1)
				if !f.Merge(&chunks[i], &chunks[i+1]) {
					t.Fatalf("%v: merge refused", f)
				}
				chunks = slices.Delete(chunks, i+1, i+2)
			}
			var got any
			if len(chunks) == 1 {
				got = f.Value(&chunks[0])
			} else {
				got = f.Value(&Tile{})
			}
			if !same(got, want) {
				t.Fatalf("%v iteration %d: merged %v, whole %v (events %v)", f, iter, got, want, evs)
			}
		}
	}
}

// TestFoldMatchesReference: random events in tiles, folded at random read
// times, equal the brute-force reference.
func TestFoldMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, f := range Funcs() {
		s := Spec{f, 10 * time.Second, 2 * time.Second, 2 * time.Second}
		for iter := range 200 {
			ref := NewReference(s)
			var tiles []Tile
			now := int64(1_700_000_000_000 + r.IntN(1e6))
			for range r.IntN(60) {
				tm := now - int64(r.IntN(12000)) + 1000
				in := randomInput(r, f, 2)
				if ref.Add(now, tm, in) == Late {
					continue
				}
				b := s.TileOf(tm)
				i, found := slices.BinarySearchFunc(tiles, b, func(t Tile, b int64) int { return int(t.B - b) })
				if !found {
					tiles = slices.Insert(tiles, i, Tile{B: b})
				}
				f.Add(&tiles[i], tm, in)
			}
			var acc Tile
			for _, T := range []int64{now, now + 500, now + 3000, now + 9000, now + 13000} {
				s.Fold(&acc, tiles, T)
				got, want := f.Value(&acc), ref.Value(T)
				if !same(got, want) {
					t.Fatalf("%v iteration %d at %d: fold %v, reference %v", f, iter, T-now, got, want)
				}
			}
			// The encoding round-trips (COUNT_DISTINCT keeps only B).
			enc := AppendTiles(nil, f, tiles)
			dec, err := DecodeTiles(nil, f, enc)
			if err != nil {
				t.Fatal(err)
			}
			if f == CountDistinct {
				for i := range tiles {
					tiles[i] = Tile{B: tiles[i].B}
				}
			}
			for i := range tiles {
				if tiles[i].Vec == nil && dec[i].Vec != nil && len(dec[i].Vec) == 0 {
					dec[i].Vec = nil
				}
				if tiles[i].Value == nil && len(dec[i].Value) == 0 {
					dec[i].Value = nil
				}
			}
			if fmt.Sprint(dec) != fmt.Sprint(tiles) {
				t.Fatalf("%v: decoded %v, want %v", f, dec, tiles)
			}
			if again := AppendTiles(nil, f, dec); !bytes.Equal(again, enc) {
				t.Fatalf("%v: encoding not stable", f)
			}
		}
	}
}

func TestTileEncoding(t *testing.T) {
	tiles := []Tile{{B: -3, Rows: 2, N: 1}, {B: 7, Rows: 1, N: 1}}
	got := AppendTiles(nil, Count, tiles)
	want := []byte{
		0, 0, 0, 0, 0, 0, 8, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // -3, 2, 1
		0, 0, 0, 0, 0, 0, 0x1c, 0x40, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // 7, 1, 1
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("COUNT tiles: % x\nwant % x", got, want)
	}
	lat := AppendTiles(nil, Latest, []Tile{{B: 1, N: 2, Time: 1500, Value: []byte("KAM=")}})
	if len(lat) != 28+4 || !bytes.Equal(lat[24:28], []byte{4, 0, 0, 0}) || string(lat[28:]) != "KAM=" {
		t.Fatalf("LATEST tile: % x", lat)
	}
	for _, tc := range []struct {
		f    Func
		data []byte
	}{
		{Count, got[:23]},
		{Count, append(AppendTiles(nil, Count, tiles[1:]), AppendTiles(nil, Count, tiles[:1])...)},
		{Count, AppendTiles(nil, Count, []Tile{{B: 1, Rows: 1, N: 2}})},
		{Sum, AppendTiles(nil, Sum, []Tile{{B: 1, N: -1}})},
		{Latest, lat[:30]},
		{MaxPooling, AppendTiles(nil, MaxPooling, []Tile{{B: 1, N: 1, Vec: []float64{1, 2}}})[:39]},
		{Func(0), got},
	} {
		if _, err := DecodeTiles(nil, tc.f, tc.data); err == nil {
			t.Errorf("%v: % x decoded", tc.f, tc.data)
		}
	}
}

// FuzzDecodeTiles: any bytes decode or fail without panicking, and what
// decodes encodes back to the same bytes.
func FuzzDecodeTiles(f *testing.F) {
	for _, fn := range Funcs() {
		tiles := []Tile{{B: 1, Rows: 2, N: 1, V: 3, Time: 4, Value: []byte("x"), Vec: []float64{5}}}
		f.Add(uint8(fn), AppendTiles(nil, fn, tiles))
	}
	f.Fuzz(func(t *testing.T, fn uint8, data []byte) {
		fu := Func(fn%10 + 1)
		tiles, err := DecodeTiles(nil, fu, data)
		if err != nil {
			return
		}
		if got := AppendTiles(nil, fu, tiles); !bytes.Equal(got, data) {
			// NaN payloads and -0 counts may differ; the values may not.
			back, err := DecodeTiles(nil, fu, got)
			if err != nil || fmt.Sprint(back) != fmt.Sprint(tiles) {
				t.Fatalf("%v: % x re-encoded as % x", fu, data, got)
			}
		}
	})
}

func TestOutput(t *testing.T) {
	for _, tc := range []struct {
		v    any
		t    feature.Type
		want any
	}{
		{nil, feature.Int64, nil},
		{int64(3), feature.Int32, int32(3)},
		{int64(1 << 40), feature.Int32, nil},
		{2.9, feature.Int64, int64(2)},
		{-2.9, feature.Int32, int32(-2)},
		{math.NaN(), feature.Int64, nil},
		{math.Inf(1), feature.Int64, nil},
		{math.Inf(1), feature.Float, float32(math.Inf(1))},
		{1e300, feature.Float, nil},
		{[]float64{1.5, -2.5}, feature.Int64Vector, []int64{1, -2}},
		{[]float64{1.5, math.NaN()}, feature.Int32Vector, nil},
		{[]float64{0.1}, feature.FloatVector, []float32{0.1}},
	} {
		if got := Output(tc.v, tc.t); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Output(%v, %v) = %#v, want %#v", tc.v, tc.t, got, tc.want)
		}
	}
}

// benchInput returns the i-th input of f's benchmarks.
func benchInput(f Func, i int) Input {
	switch {
	case f.IsPooling():
		return vec(1, 2, 3, 4, 5, 6, 7, 8)
	case f == Latest:
		return str("KAM=")
	case f == CountDistinct:
		return hash(uint64(i))
	}
	return num(float64(i))
}

// benchTiles returns the tiles of a 10-tile window, one event each.
func benchTiles(f Func) []Tile {
	tiles := make([]Tile, 11)
	for i := range tiles {
		tiles[i].B = int64(i)
		f.Add(&tiles[i], int64(i)*1000, benchInput(f, i))
	}
	return tiles
}

// BenchmarkAdd accumulates one event into a tile, per function.
func BenchmarkAdd(b *testing.B) {
	for _, f := range Funcs() {
		b.Run(f.String(), func(b *testing.B) {
			tile := benchTiles(f)[0]
			in := benchInput(f, 3)
			b.ReportAllocs()
			for i := range b.N {
				f.Add(&tile, int64(i), in)
			}
		})
	}
}

// BenchmarkFold folds a 10-tile window at a read time and finishes its
// value. Fold does not allocate; Value allocates the interface of a
// scalar, or the vector.
func BenchmarkFold(b *testing.B) {
	for _, f := range Funcs() {
		s := Spec{f, 10 * time.Second, time.Second, time.Second}
		tiles := benchTiles(f)
		var acc Tile
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				s.Fold(&acc, tiles, 10500)
			}
		})
		b.Run(f.String()+"+Value", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				s.Fold(&acc, tiles, 10500)
				_ = f.Value(&acc)
			}
		})
	}
}

// BenchmarkDecodeTiles decodes a 10-tile window into reused tiles.
func BenchmarkDecodeTiles(b *testing.B) {
	for _, f := range []Func{Sum, Latest, AvgPooling} {
		enc := AppendTiles(nil, f, benchTiles(f))
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			var dst []Tile
			for range b.N {
				var err error
				if dst, err = DecodeTiles(dst, f, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
