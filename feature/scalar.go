package feature

import (
	"fmt"
	"math"
)

// Scalar is a value of a scalar feature type (BOOLEAN, INT32, INT64,
// FLOAT, DOUBLE, STRING or BYTES) held without an interface around it, so
// that making and passing one does not allocate: a transform's result on
// its way to being encoded. The zero Scalar has no type.
type Scalar struct {
	Type Type
	bits uint64 // BOOLEAN 0 or 1; INT32 and INT64 as int64; FLOAT's float32 bits; DOUBLE's float64 bits
	str  string // STRING
	raw  []byte // BYTES
}

// Bool, Int64, Float32, Float64, Str and Bytes return the value of a
// Scalar of the type they name (Int64 also of an INT32).
func (s Scalar) Bool() bool       { return s.bits != 0 }
func (s Scalar) Int64() int64     { return int64(s.bits) }
func (s Scalar) Float32() float32 { return math.Float32frombits(uint32(s.bits)) }
func (s Scalar) Float64() float64 { return math.Float64frombits(s.bits) }
func (s Scalar) Str() string      { return s.str }
func (s Scalar) Bytes() []byte    { return s.raw }

// Any returns s in the canonical Go form of its type, as Convert returns
// it (bool, int32, int64, float32, float64, string, []byte).
func (s Scalar) Any() any {
	switch s.Type {
	case Boolean:
		return s.Bool()
	case Int32:
		return int32(s.bits)
	case Int64:
		return s.Int64()
	case Float:
		return s.Float32()
	case Double:
		return s.Float64()
	case String:
		return s.str
	case Bytes:
		return s.raw
	}
	return nil
}

// ScalarFromInt64 converts an integer to t, as Convert does.
func ScalarFromInt64(x int64, t Type) (Scalar, error) {
	switch t {
	case Int64:
		return Scalar{Type: Int64, bits: uint64(x)}, nil
	case Int32:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return Scalar{}, fmt.Errorf("%w %d to %s: out of range", ErrConvert, x, t)
		}
		return Scalar{Type: Int32, bits: uint64(x)}, nil
	case Double:
		return Scalar{Type: Double, bits: math.Float64bits(float64(x))}, nil
	case Float:
		return Scalar{Type: Float, bits: uint64(math.Float32bits(float32(x)))}, nil
	}
	return Scalar{}, fmt.Errorf("%w int %d to %s", ErrConvert, x, t)
}

// ScalarFromFloat64 converts a float to t, as Convert does: to an integer
// type by truncation toward zero, refusing NaN, ±Inf and values out of
// range.
func ScalarFromFloat64(f float64, t Type) (Scalar, error) {
	switch t {
	case Double:
		return Scalar{Type: Double, bits: math.Float64bits(f)}, nil
	case Float:
		if !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
			return Scalar{}, fmt.Errorf("%w %g to %s: out of range", ErrConvert, f, t)
		}
		return Scalar{Type: Float, bits: uint64(math.Float32bits(float32(f)))}, nil
	case Int32, Int64:
		i, err := truncate(f, t)
		if err != nil {
			return Scalar{}, err
		}
		return Scalar{Type: t, bits: uint64(i)}, nil
	}
	return Scalar{}, fmt.Errorf("%w double %g to %s", ErrConvert, f, t)
}

// ScalarFromBool converts a bool to t, as Convert does: only to BOOLEAN.
func ScalarFromBool(b bool, t Type) (Scalar, error) {
	if t != Boolean {
		return Scalar{}, fmt.Errorf("%w bool %v to %s", ErrConvert, b, t)
	}
	s := Scalar{Type: Boolean}
	if b {
		s.bits = 1
	}
	return s, nil
}

// ScalarFromString converts a string to t, as Convert does: to STRING, or
// to BYTES (its UTF-8 bytes, a copy); strings are never parsed as numbers.
func ScalarFromString(x string, t Type) (Scalar, error) {
	switch t {
	case String:
		return Scalar{Type: String, str: x}, nil
	case Bytes:
		return Scalar{Type: Bytes, raw: []byte(x)}, nil
	}
	return Scalar{}, fmt.Errorf("%w %s to %s", ErrConvert, describe(x), t)
}

// ScalarOf converts v to t, a scalar type, as Convert does; ok is false
// for a null v. It does not allocate for values that are already bool,
// int64, float64, string or []byte (a record's), but for a string into
// BYTES.
func ScalarOf(v any, t Type) (s Scalar, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return Scalar{}, false, nil
	case int64:
		s, err = ScalarFromInt64(x, t)
	case float64:
		s, err = ScalarFromFloat64(x, t)
	case bool:
		s, err = ScalarFromBool(x, t)
	case string:
		s, err = ScalarFromString(x, t)
	case []byte:
		if t != Bytes {
			return Scalar{}, false, fmt.Errorf("%w %s to %s", ErrConvert, describe(v), t)
		}
		s = Scalar{Type: Bytes, raw: x}
	default:
		// Other Go types (int32, float32, CEL values, ...): Convert's rules.
		c, cerr := Convert(v, t)
		if cerr != nil || c == nil {
			return Scalar{}, false, cerr
		}
		return ScalarOf(canonical(c), t)
	}
	if err != nil {
		return Scalar{}, false, err
	}
	return s, true, nil
}

// canonical widens the canonical forms ScalarOf does not read directly
// (int32, float32) to int64 and float64, which convert back exactly.
func canonical(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}
