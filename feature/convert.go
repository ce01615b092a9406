package feature

import (
	"errors"
	"fmt"
	"math"
	"reflect"
)

// ErrConvert is wrapped by every error Convert returns, so a caller can
// tell a value that does not fit its declared type (a record error) from
// other failures.
var ErrConvert = errors.New("cannot convert")

// Convert converts v, a transform's result, to the canonical Go form of t:
//
//	BOOLEAN      bool
//	INT32        int32
//	INT64        int64
//	FLOAT        float32
//	DOUBLE       float64
//	STRING       string
//	BYTES        []byte
//	FLOAT_VECTOR []float32 (and []int32, []int64, []float64 for the other vectors)
//
// A nil v converts to nil (a null feature value). v may be any Go bool,
// integer, float, string, []byte or slice of those, or a value with a
// Value() any method (such as a CEL value), which is unwrapped first.
//
// The rules follow Spark's casts where they are safe and refuse the rest:
//   - integers and floats convert to each other; a float converts to an
//     integer type by truncation toward zero (as Spark's cast and Feathr's
//     batch path); NaN, ±Inf and values out of the target's range are errors,
//     never wrapped or saturated;
//   - a float64 outside float32's finite range is an error for FLOAT (NaN
//     and ±Inf pass through);
//   - bool converts only to BOOLEAN, and nothing else converts to BOOLEAN;
//   - strings are never parsed as numbers (use cast_int or cast_double in
//     the expression); STRING accepts only strings; BYTES accepts []byte
//     and strings (their UTF-8 bytes);
//   - a vector comes from a slice of numbers, each converted by the scalar
//     rule; a null element is an error.
//
// When v already has the canonical type it is returned as is, without
// copying. Every error wraps ErrConvert.
func Convert(v any, t Type) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if t == Int64 {
			return v, nil
		}
		return FromInt64(x, t)
	case float64:
		if t == Double {
			return v, nil
		}
		return FromFloat64(x, t)
	case bool:
		if t == Boolean {
			return v, nil
		}
	case string:
		switch t {
		case String:
			return v, nil
		case Bytes:
			return []byte(x), nil
		}
	case []byte:
		if t == Bytes {
			return v, nil
		}
	case int32:
		if t == Int32 {
			return v, nil
		}
		return FromInt64(int64(x), t)
	case float32:
		if t == Float {
			return v, nil
		}
		return FromFloat64(float64(x), t)
	case int:
		return FromInt64(int64(x), t)
	case int8:
		return FromInt64(int64(x), t)
	case int16:
		return FromInt64(int64(x), t)
	case uint8:
		return FromInt64(int64(x), t)
	case uint16:
		return FromInt64(int64(x), t)
	case uint32:
		return FromInt64(int64(x), t)
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%w %d to %s: out of range", ErrConvert, x, t)
		}
		return FromInt64(int64(x), t)
	case uint:
		return Convert(uint64(x), t)
	case []any:
		if t.IsVector() {
			return convertVector(len(x), func(i int) any { return x[i] }, t)
		}
	case []float32:
		if t == FloatVector {
			return v, nil
		}
		if t.IsVector() {
			return convertVector(len(x), func(i int) any { return x[i] }, t)
		}
	case []float64:
		if t == DoubleVector {
			return v, nil
		}
		if t.IsVector() {
			return convertVector(len(x), func(i int) any { return x[i] }, t)
		}
	case []int32:
		if t == Int32Vector {
			return v, nil
		}
		if t.IsVector() {
			return convertVector(len(x), func(i int) any { return x[i] }, t)
		}
	case []int64:
		if t == Int64Vector {
			return v, nil
		}
		if t.IsVector() {
			return convertVector(len(x), func(i int) any { return x[i] }, t)
		}
	case interface{ Value() any }:
		return Convert(x.Value(), t)
	default:
		if t.IsVector() {
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
				return convertVector(rv.Len(), func(i int) any { return rv.Index(i).Interface() }, t)
			}
		}
	}
	return nil, fmt.Errorf("%w %s to %s", ErrConvert, describe(v), t)
}

// FromInt64 converts an integer to the canonical Go form of t, as Convert.
func FromInt64(x int64, t Type) (any, error) {
	s, err := ScalarFromInt64(x, t)
	if err != nil {
		return nil, err
	}
	return s.Any(), nil
}

// FromFloat64 converts a float to the canonical Go form of t, as Convert:
// to an integer type by truncation toward zero, refusing NaN, ±Inf and
// values out of range.
func FromFloat64(f float64, t Type) (any, error) {
	s, err := ScalarFromFloat64(f, t)
	if err != nil {
		return nil, err
	}
	return s.Any(), nil
}

// truncate truncates f toward zero and checks it fits t (INT32 or INT64).
func truncate(f float64, t Type) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w %g to %s", ErrConvert, f, t)
	}
	f = math.Trunc(f)
	lo, hi := -9223372036854775808.0, 9223372036854775808.0 // [-2^63, 2^63)
	if t == Int32 {
		lo, hi = math.MinInt32, math.MaxInt32+1
	}
	if f < lo || f >= hi {
		return 0, fmt.Errorf("%w %g to %s: out of range", ErrConvert, f, t)
	}
	return int64(f), nil
}

// elemType returns the scalar type of a vector type's elements.
func elemType(t Type) Type {
	switch t {
	case FloatVector:
		return Float
	case Int32Vector:
		return Int32
	case Int64Vector:
		return Int64
	}
	return Double
}

func convertVector(n int, at func(int) any, t Type) (any, error) {
	et := elemType(t)
	var (
		f32 []float32
		f64 []float64
		i32 []int32
		i64 []int64
	)
	switch t {
	case FloatVector:
		f32 = make([]float32, n)
	case DoubleVector:
		f64 = make([]float64, n)
	case Int32Vector:
		i32 = make([]int32, n)
	case Int64Vector:
		i64 = make([]int64, n)
	}
	for i := range n {
		e := at(i)
		if e == nil {
			return nil, fmt.Errorf("%w element %d to %s: null", ErrConvert, i, t)
		}
		switch e.(type) {
		case bool, string, []byte:
			return nil, fmt.Errorf("%w element %d (%s) to %s", ErrConvert, i, describe(e), t)
		}
		c, err := Convert(e, et)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		switch t {
		case FloatVector:
			f32[i] = c.(float32)
		case DoubleVector:
			f64[i] = c.(float64)
		case Int32Vector:
			i32[i] = c.(int32)
		case Int64Vector:
			i64[i] = c.(int64)
		}
	}
	switch t {
	case FloatVector:
		return f32, nil
	case DoubleVector:
		return f64, nil
	case Int32Vector:
		return i32, nil
	}
	return i64, nil
}

// describe names v's kind for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case bool:
		return fmt.Sprintf("bool %t", x)
	case string:
		if len(x) > 32 {
			x = x[:32] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case []byte:
		return "bytes"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}
