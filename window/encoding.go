package window

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The tile encoding is the value of a feature's field t:<feature> in its
// Redis state hash. The Lua script of package sink writes it with
// struct.pack and reads it with struct.unpack; Go reads it (and writes it,
// for tests) with AppendTiles and DecodeTiles. It is the same bytes in
// both; change them together.
//
// The tiles of a feature follow one another, sorted by tile number,
// ascending, each a tile number b then the function's fields, all
// little-endian IEEE doubles ("<d"; integers up to 2^53 are exact) but
// LATEST's length ("<i4", a signed 32-bit integer):
//
//	COUNT           b, rows, n                  24 bytes
//	SUM, AVG        b, n, sum                   24 bytes
//	MIN, MAX        b, n, v                     24 bytes
//	LATEST          b, n, time, len, value      28+len bytes (value: the FeatureValue base64)
//	*_POOLING       b, n, dim, dim × element    24+8·dim bytes
//	COUNT_DISTINCT  b                           8 bytes (the HyperLogLog is its own key)
//
// An empty list is no field at all. (Package sink may keep a COUNT, SUM,
// AVG, MIN or MAX feature's newest tile in its cache field instead of
// t:<feature>: see its stateTiles.)

// AppendTiles appends the encoding of tiles, tiles of function f sorted
// by B, to dst and returns the extended buffer. For COUNT_DISTINCT it
// encodes only the tile numbers.
func AppendTiles(dst []byte, f Func, tiles []Tile) []byte {
	d := func(x float64) { dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)) }
	for i := range tiles {
		t := &tiles[i]
		d(float64(t.B))
		switch f {
		case Count:
			d(float64(t.Rows))
			d(float64(t.N))
		case Sum, Avg, Min, Max:
			d(float64(t.N))
			d(t.V)
		case Latest:
			d(float64(t.N))
			d(float64(t.Time))
			dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(len(t.Value))))
			dst = append(dst, t.Value...)
		case MaxPooling, MinPooling, AvgPooling:
			d(float64(t.N))
			d(float64(len(t.Vec)))
			for _, x := range t.Vec {
				d(x)
			}
		}
	}
	return dst
}

// DecodeTiles decodes data, the encoding of tiles of function f, into
// dst[:0] and returns it. It reuses the memory of dst's elements' Vec;
// a LATEST tile's Value aliases data. A malformed encoding (truncated, a
// count or a dimension that is not a whole non-negative number, tiles out
// of order) is an error.
func DecodeTiles(dst []Tile, f Func, data []byte) ([]Tile, error) {
	dst = dst[:0]
	pos := 0
	fail := func(what string) ([]Tile, error) {
		return dst, fmt.Errorf("window: decode %v tiles: %s at byte %d of %d", f, what, pos, len(data))
	}
	double := func() (float64, bool) {
		if len(data)-pos < 8 {
			return 0, false
		}
		x := math.Float64frombits(binary.LittleEndian.Uint64(data[pos:]))
		pos += 8
		return x, true
	}
	count := func() (int64, bool) {
		x, ok := double()
		if !ok || x < 0 || x != math.Trunc(x) || x > 1<<53 {
			return 0, false
		}
		return int64(x), true
	}
	for pos < len(data) {
		b, ok := double()
		if !ok || b != math.Trunc(b) || math.Abs(b) > 1<<53 {
			return fail("bad tile number")
		}
		if len(dst) > 0 && int64(b) <= dst[len(dst)-1].B {
			return fail("tiles out of order")
		}
		var t *Tile
		if len(dst) < cap(dst) {
			dst = dst[:len(dst)+1]
			t = &dst[len(dst)-1]
			t.reset(int64(b))
			t.Set = nil
		} else {
			dst = append(dst, Tile{B: int64(b)})
			t = &dst[len(dst)-1]
		}
		switch f {
		case Count:
			if t.Rows, ok = count(); !ok {
				return fail("bad row count")
			}
			if t.N, ok = count(); !ok || t.N > t.Rows {
				return fail("bad count")
			}
		case Sum, Avg, Min, Max:
			if t.N, ok = count(); !ok {
				return fail("bad count")
			}
			if t.V, ok = double(); !ok {
				return fail("truncated value")
			}
		case Latest:
			if t.N, ok = count(); !ok {
				return fail("bad count")
			}
			var tm float64
			if tm, ok = double(); !ok || tm != math.Trunc(tm) || math.Abs(tm) > 1<<53 {
				return fail("bad time")
			}
			t.Time = int64(tm)
			if len(data)-pos < 4 {
				return fail("truncated length")
			}
			n := int32(binary.LittleEndian.Uint32(data[pos:]))
			pos += 4
			if n < 0 || int(n) > len(data)-pos {
				return fail("bad value length")
			}
			t.Value = data[pos : pos+int(n) : pos+int(n)]
			pos += int(n)
		case MaxPooling, MinPooling, AvgPooling:
			if t.N, ok = count(); !ok {
				return fail("bad count")
			}
			dim, ok := count()
			if !ok || dim > int64(len(data)-pos)/8 {
				return fail("bad dimension")
			}
			for range dim {
				x, _ := double()
				t.Vec = append(t.Vec, x)
			}
		case CountDistinct:
		default:
			return fail("invalid function")
		}
	}
	return dst, nil
}
