package transform

import (
	"math"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/feathrgo/feathr/feature"
)

// The fast path's values: fval, a null, int64, float64, bool or string held
// without boxing, and its conversions to and from CEL values and to the Go
// value of a feature type.

// fkind is the kind of a fast value.
type fkind uint8

const (
	fNull fkind = iota
	fInt
	fDouble
	fBool
	fString
)

// fval is a value of the fast path: null, an int64, a float64, a bool
// or a string. Numbers and bools are kept in the bits of n.
type fval struct {
	k fkind
	n uint64
	s string
}

func intVal(i int64) fval      { return fval{k: fInt, n: uint64(i)} }
func doubleVal(f float64) fval { return fval{k: fDouble, n: math.Float64bits(f)} }
func boolVal(b bool) fval {
	if b {
		return fval{k: fBool, n: 1}
	}
	return fval{k: fBool}
}

func (v *fval) int() int64      { return int64(v.n) }
func (v *fval) double() float64 { return math.Float64frombits(v.n) }
func (v *fval) bool() bool      { return v.n != 0 }
func (v *fval) isTrue() bool    { return v.k == fBool && v.n != 0 }
func (v *fval) isFalse() bool   { return v.k == fBool && v.n == 0 }

func toVal(a *fval) ref.Val {
	switch a.k {
	case fInt:
		return types.Int(a.int())
	case fDouble:
		return types.Double(a.double())
	case fBool:
		return types.Bool(a.bool())
	case fString:
		return types.String(a.s)
	}
	return types.NullValue
}

// fromVal converts a CEL value into v; ok is false for a value of another
// type than the fast path's.
func fromVal(val ref.Val, v *fval) (err *types.Err, ok bool) {
	switch x := val.(type) {
	case types.Null:
		*v = fval{}
	case types.Int:
		*v = intVal(int64(x))
	case types.Double:
		*v = doubleVal(float64(x))
	case types.Bool:
		*v = boolVal(bool(x))
	case types.String:
		*v = fval{k: fString, s: string(x)}
	case *types.Err:
		return x, true
	default:
		return nil, false
	}
	return nil, true
}

// convertFast converts a fast result to the Go form of t, as convert does
// for the CEL value.
func convertFast(v *fval, t feature.Type) (any, error) {
	if !t.IsVector() {
		s, ok, err := scalarFast(v, t)
		if err != nil || !ok {
			return nil, err
		}
		return s.Any(), nil
	}
	switch v.k {
	case fInt:
		return feature.FromInt64(v.int(), t)
	case fDouble:
		return feature.FromFloat64(v.double(), t)
	case fBool:
		return feature.Convert(v.bool(), t)
	case fString:
		return feature.Convert(v.s, t)
	}
	return nil, nil
}

// scalarFast converts a fast result to t, a scalar type, as convertFast
// does, without boxing it; ok is false for null.
func scalarFast(v *fval, t feature.Type) (s feature.Scalar, ok bool, err error) {
	switch v.k {
	case fInt:
		s, err = feature.ScalarFromInt64(v.int(), t)
	case fDouble:
		s, err = feature.ScalarFromFloat64(v.double(), t)
	case fBool:
		s, err = feature.ScalarFromBool(v.bool(), t)
	case fString:
		s, err = feature.ScalarFromString(v.s, t)
	default:
		return feature.Scalar{}, false, nil
	}
	return s, err == nil, err
}
