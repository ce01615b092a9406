package sink

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/feathrgo/feathr/feature"
)

// NullKeyPart stands for a null key part in a Redis key, as in Feathr.
const NullKeyPart = "_null_"

// The separators of Feathr's key layout: "<table>:<k1>#<k2>...".
const (
	tableSep = ':'
	partSep  = '#'
)

// Key returns the Redis key of an entity in a table, Feathr's layout:
// "<table>:<k1>#<k2>...". Callers pass NullKeyPart for a null part.
func Key(table string, parts ...string) string {
	n := len(table) + 1 + max(len(parts)-1, 0)
	for _, p := range parts {
		n += len(p)
	}
	b := AppendKeyStart(make([]byte, 0, n), table)
	for i, p := range parts {
		if i > 0 {
			b = append(b, partSep)
		}
		b = append(b, p...)
	}
	return string(b)
}

// AppendKeyStart appends "<table>:", the start of every key of table:
// the entity key follows, as Key joins it or as AppendKeyPart appends it
// part by part.
func AppendKeyStart(dst []byte, table string) []byte {
	return append(append(dst, table...), tableSep)
}

// AppendKeyPart appends part i (from 0) of an entity key after
// AppendKeyStart: the separator '#' unless it is the first, then the
// string form of the key column's value as Feathr writes it: numbers in
// decimal (doubles as Spark prints them, e.g. "1.0"), booleans as
// "true"/"false", null as NullKeyPart. On error, dst is returned as it was.
func AppendKeyPart(dst []byte, i int, v any, t feature.KeyType) ([]byte, error) {
	if i == 0 {
		return appendKeyValue(dst, v, t)
	}
	out, err := appendKeyValue(append(dst, partSep), v, t)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// appendKeyValue appends the string form of a key column's value.
func appendKeyValue(dst []byte, v any, t feature.KeyType) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, NullKeyPart...), nil
	case int64:
		switch t {
		case feature.KeyFloat:
			return appendSparkDouble(dst, float64(float32(v)), 32), nil
		case feature.KeyDouble:
			return appendSparkDouble(dst, float64(v), 64), nil
		case feature.KeyInt32:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return dst, fmt.Errorf("%d overflows INT32", v)
			}
		}
		return strconv.AppendInt(dst, v, 10), nil
	case float64:
		switch t {
		case feature.KeyInt32, feature.KeyInt64:
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= math.MaxInt64 {
				return dst, fmt.Errorf("%v is not an integer key", v)
			}
			if t == feature.KeyInt32 && (v <= math.MinInt32-1 || v >= math.MaxInt32+1) {
				return dst, fmt.Errorf("%v overflows INT32", v)
			}
			return strconv.AppendInt(dst, int64(v), 10), nil
		case feature.KeyFloat:
			return appendSparkDouble(dst, float64(float32(v)), 32), nil
		}
		return appendSparkDouble(dst, v, 64), nil
	case string:
		if t == feature.KeyInt32 || t == feature.KeyInt64 {
			// The canonical decimal, so that "007" and 7 are the same key.
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return dst, fmt.Errorf("%q is not an integer", v)
			}
			if t == feature.KeyInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
				return dst, fmt.Errorf("%d overflows INT32", n)
			}
			return strconv.AppendInt(dst, n, 10), nil
		}
		return append(dst, v...), nil
	case []byte:
		return append(dst, v...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case time.Time:
		if t == feature.KeyInt64 {
			return strconv.AppendInt(dst, v.UnixMilli(), 10), nil
		}
		// As Spark casts a timestamp to a string (UTC session time zone):
		// the fraction of a second only when it is not zero.
		return v.UTC().AppendFormat(dst, "2006-01-02 15:04:05.999999"), nil
	}
	return dst, fmt.Errorf("a %T cannot be a key", v)
}

// appendSparkDouble formats f as Spark (Java) casts a double to a string:
// "1.0", "0.5", "1.0E10", "1.0E-5".
func appendSparkDouble(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-3 && abs < 1e7) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, bits)
		for _, c := range dst[start:] {
			if c == '.' {
				return dst
			}
		}
		return append(dst, ".0"...)
	}
	// Java's scientific form: mantissa with at least one decimal, "E", exponent.
	s := strconv.FormatFloat(f, 'e', -1, bits) // e.g. 1e+10, 1.5e-05
	mant, exp := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' {
			mant, exp = s[:i], s[i+1:]
			break
		}
	}
	dst = append(dst, mant...)
	hasDot := false
	for _, c := range mant {
		if c == '.' {
			hasDot = true
		}
	}
	if !hasDot {
		dst = append(dst, ".0"...)
	}
	dst = append(dst, 'E')
	if exp[0] == '+' {
		exp = exp[1:]
	} else if exp[0] == '-' {
		dst = append(dst, '-')
		exp = exp[1:]
	}
	for len(exp) > 1 && exp[0] == '0' {
		exp = exp[1:]
	}
	return append(dst, exp...)
}
