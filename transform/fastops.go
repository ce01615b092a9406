package transform

import (
	"math"
	"strings"

	"cel.dev/cel-go/common/types"
)

// The operators of the fast path: arithmetic, comparison, three-valued
// and and or, and casts, each giving exactly the interpreter's result.

func isNum(v *fval) bool { return v.k == fInt || v.k == fDouble }

// fastFloats is floats of the fast path.
func fastFloats(a, b *fval) (float64, float64, bool) {
	var x, y float64
	switch a.k {
	case fInt:
		x = float64(a.int())
	case fDouble:
		x = a.double()
	default:
		return 0, 0, false
	}
	switch b.k {
	case fInt:
		y = float64(b.int())
	case fDouble:
		y = b.double()
	default:
		return 0, 0, false
	}
	return x, y, true
}

// fastArith is add, sub and mul of the fast path.
func fastArith(op fop, a, b, v *fval) (*types.Err, bool) {
	if a.k == fInt && b.k == fInt {
		x, y := a.int(), b.int()
		var r int64
		switch op {
		case opAdd:
			r = x + y
			if (x^r)&(y^r) < 0 {
				return overflow("+").(*types.Err), true
			}
		case opSub:
			r = x - y
			if (x^y)&(x^r) < 0 {
				return overflow("-").(*types.Err), true
			}
		default:
			var ok bool
			if r, ok = mulInt(x, y); !ok {
				return overflow("*").(*types.Err), true
			}
		}
		*v = intVal(r)
		return nil, true
	}
	if x, y, ok := fastFloats(a, b); ok {
		switch op {
		case opAdd:
			*v = doubleVal(x + y)
		case opSub:
			*v = doubleVal(x - y)
		default:
			*v = doubleVal(x * y)
		}
		return nil, true
	}
	if op == opAdd && a.k == fString && b.k == fString {
		*v = fval{k: fString, s: a.s + b.s}
		return nil, true
	}
	return nil, false
}

// fastCompare is compare of the fast path.
func fastCompare(a, b *fval) (int, bool) {
	if a.k == fInt && b.k == fInt {
		switch x, y := a.int(), b.int(); {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	}
	if x, y, ok := fastFloats(a, b); ok {
		return compareFloat(x, y), true
	}
	switch {
	case a.k == fString && b.k == fString:
		return strings.Compare(a.s, b.s), true
	case a.k == fBool && b.k == fBool:
		switch {
		case a.n == b.n:
			return 0, true
		case !a.bool():
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

// fastAnd is and of the fast path: false if either side is false, else
// null if either is null, else true.
func fastAnd(a, b, v *fval) (*types.Err, bool) {
	switch {
	case a.isFalse() || b.isFalse():
		*v = boolVal(false)
	case a.k == fNull || b.k == fNull:
		*v = fval{}
	case a.k != fBool || b.k != fBool:
		return nil, false
	default:
		*v = boolVal(true)
	}
	return nil, true
}

// fastOr is or of the fast path: true if either side is true, else null
// if either is null, else false.
func fastOr(a, b, v *fval) (*types.Err, bool) {
	switch {
	case a.isTrue() || b.isTrue():
		*v = boolVal(true)
	case a.k == fNull || b.k == fNull:
		*v = fval{}
	case a.k != fBool || b.k != fBool:
		return nil, false
	default:
		*v = boolVal(false)
	}
	return nil, true
}

// fastCastInt is castInt of the fast path, for a number or a bool.
func fastCastInt(name string, a *fval, lo, hi int64, v *fval) (*types.Err, bool) {
	var i int64
	switch a.k {
	case fInt:
		i = a.int()
	case fDouble:
		f := math.Trunc(a.double())
		if math.IsNaN(f) || f < float64(lo) || f >= float64(hi)+1 {
			return errorf("%s: %g out of range", name, a.double()).(*types.Err), true
		}
		i = int64(f)
	case fBool:
		if a.bool() {
			i = 1
		}
	default:
		return nil, false
	}
	if i < lo || i > hi {
		return errorf("%s: %d out of range", name, i).(*types.Err), true
	}
	*v = intVal(i)
	return nil, true
}

// viaCEL applies the library's implementation of n's cast to a, which is
// not null.
func (n *fnode) viaCEL(a, v *fval) (*types.Err, bool) {
	if n.cast == nil {
		return nil, false
	}
	return fromVal(n.cast(toVal(a)), v)
}
