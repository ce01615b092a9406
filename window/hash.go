package window

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Hash returns COUNT_DISTINCT's hash of a value: the 64-bit FNV-1a of its
// canonical encoding, a type letter then the value's bytes: 'b' and one
// byte for a bool, 'i' and the int64 little-endian, 'f' and the float64's
// bits (every NaN the same; −0 as +0), 's' and the bytes of a string, 'y'
// and those of a []byte, 't' and the UTC unix nanoseconds of a time.Time.
// So 1 and 1.0 are distinct values, as in Spark's hash. Another type of
// value (a list, a map) is an error; nil hashes nothing: it is not a
// value (the caller's InputNull).
func Hash(v any) (uint64, error) {
	h := uint64(14695981039346656037)
	add := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	var buf [9]byte
	num := func(tag byte, x uint64) {
		buf[0] = tag
		binary.LittleEndian.PutUint64(buf[1:], x)
		add(buf[:])
	}
	switch x := v.(type) {
	case bool:
		buf[0], buf[1] = 'b', 0
		if x {
			buf[1] = 1
		}
		add(buf[:2])
	case int64:
		num('i', uint64(x))
	case float64:
		switch {
		case x != x:
			x = math.NaN()
		case x == 0:
			x = 0
		}
		num('f', math.Float64bits(x))
	case string:
		add([]byte{'s'})
		for i := 0; i < len(x); i++ {
			h ^= uint64(x[i])
			h *= 1099511628211
		}
	case []byte:
		add([]byte{'y'})
		add(x)
	case time.Time:
		num('t', uint64(x.UnixNano()))
	default:
		return 0, fmt.Errorf("COUNT_DISTINCT counts scalars, not %T", v)
	}
	return h, nil
}
