package transform

import (
	"math"

	"cel.dev/cel-go/cel"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Names of the functions that replace the operators the CEL interpreter
// evaluates itself (and so could not give Spark's null semantics): Compile
// rewrites `a == b` to eqFn(a, b), `a && b` to and(a, b), `c ? a : b` to
// if_else(c, a, b) and so on, before type checking.
const (
	eqFn = "@eq"
	neFn = "@ne"
)

// rewrite returns the function Compile substitutes for a CEL operator,
// or "".
func rewrite(op string) string {
	switch op {
	case operators.Equals:
		return eqFn
	case operators.NotEquals:
		return neFn
	case operators.LogicalAnd:
		return "and"
	case operators.LogicalOr:
		return "or"
	case operators.LogicalNot:
		return "not"
	case operators.Conditional:
		return "if_else"
	}
	return ""
}

// displayName returns the name a user wrote for an internal function or
// operator name, for error messages.
func displayName(name string) string {
	switch name {
	case eqFn:
		return "=="
	case neFn:
		return "!="
	}
	if op, ok := operators.FindReverse(name); ok {
		return op
	}
	return name
}

func operatorFuncs() []*fn {
	cmpSigs := append(numeric(2, tBool, tBool),
		s(tBool, tString, tString), s(tBool, tTime, tTime), s(tBool, tBool, tBool), s(tBool, tBytes, tBytes))
	cmp := func(name string, ok func(int) bool) *fn {
		return &fn{name: name, sigs: cmpSigs, binary: func(a, b ref.Val) ref.Val {
			c, err := compare(a, b)
			if err != nil {
				return err
			}
			return types.Bool(ok(c))
		}}
	}
	eqSigs := append(mixed2(tBool), uniform(2, func(*cel.Type) *cel.Type { return tBool })...)
	return []*fn{
		{name: operators.Add, binary: add, sigs: append(numeric(2, tInt, tDouble),
			s(tString, tString, tString), s(tBytes, tBytes, tBytes), s(tListA, tListA, tListA))},
		{name: operators.Subtract, binary: sub, sigs: numeric(2, tInt, tDouble)},
		{name: operators.Multiply, binary: mul, sigs: numeric(2, tInt, tDouble)},
		{name: operators.Divide, binary: div, sigs: numeric(2, tDouble, tDouble)},
		{name: operators.Modulo, binary: mod, sigs: numeric(2, tInt, tDouble)},
		{name: operators.Negate, unary: neg, sigs: numeric(1, tInt, tDouble)},
		cmp(operators.Less, func(c int) bool { return c < 0 }),
		cmp(operators.LessEquals, func(c int) bool { return c <= 0 }),
		cmp(operators.Greater, func(c int) bool { return c > 0 }),
		cmp(operators.GreaterEquals, func(c int) bool { return c >= 0 }),
		{name: eqFn, sigs: eqSigs, binary: func(a, b ref.Val) ref.Val { return equal(a, b, false) }},
		{name: neFn, sigs: eqSigs, binary: func(a, b ref.Val) ref.Val { return equal(a, b, true) }},
	}
}

// asFloat returns a number as a float64.
func asFloat(v ref.Val) (float64, bool) {
	switch x := v.(type) {
	case types.Double:
		return float64(x), true
	case types.Int:
		return float64(x), true
	case types.Uint:
		return float64(x), true
	}
	return 0, false
}

// ints returns a and b as int64s if both are ints.
func ints(a, b ref.Val) (int64, int64, bool) {
	x, ok := a.(types.Int)
	if !ok {
		return 0, 0, false
	}
	y, ok := b.(types.Int)
	return int64(x), int64(y), ok
}

// floats returns a and b as float64s if both are numbers.
func floats(a, b ref.Val) (float64, float64, bool) {
	x, ok := asFloat(a)
	if !ok {
		return 0, 0, false
	}
	y, ok := asFloat(b)
	return x, y, ok
}

func overflow(op string) ref.Val { return errorf("integer overflow in %s", op) }

func add(a, b ref.Val) ref.Val {
	if x, y, ok := ints(a, b); ok {
		r := x + y
		if (x^r)&(y^r) < 0 {
			return overflow("+")
		}
		return types.Int(r)
	}
	if x, y, ok := floats(a, b); ok {
		return types.Double(x + y)
	}
	switch x := a.(type) {
	case types.String, types.Bytes, traits.Lister:
		if a.Type() == b.Type() {
			return x.(traits.Adder).Add(b)
		}
	}
	return badArg("+", a)
}

func sub(a, b ref.Val) ref.Val {
	if x, y, ok := ints(a, b); ok {
		r := x - y
		if (x^y)&(x^r) < 0 {
			return overflow("-")
		}
		return types.Int(r)
	}
	if x, y, ok := floats(a, b); ok {
		return types.Double(x - y)
	}
	return badArg("-", a)
}

func mul(a, b ref.Val) ref.Val {
	if x, y, ok := ints(a, b); ok {
		r, ok := mulInt(x, y)
		if !ok {
			return overflow("*")
		}
		return types.Int(r)
	}
	if x, y, ok := floats(a, b); ok {
		return types.Double(x * y)
	}
	return badArg("*", a)
}

func mulInt(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	r := x * y
	if r/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
		return 0, false
	}
	return r, true
}

// div is Spark's `/`: always a double; a zero divisor gives null.
func div(a, b ref.Val) ref.Val {
	x, y, ok := floats(a, b)
	if !ok {
		return badArg("/", a)
	}
	if y == 0 {
		return types.NullValue
	}
	return types.Double(x / y)
}

// mod is Spark's `%`: the remainder takes the sign of the dividend; a zero
// divisor gives null.
func mod(a, b ref.Val) ref.Val {
	if x, y, ok := ints(a, b); ok {
		if y == 0 {
			return types.NullValue
		}
		return types.Int(x % y)
	}
	x, y, ok := floats(a, b)
	if !ok {
		return badArg("%", a)
	}
	if y == 0 {
		return types.NullValue
	}
	return types.Double(math.Mod(x, y))
}

func neg(a ref.Val) ref.Val {
	switch x := a.(type) {
	case types.Int:
		if x == math.MinInt64 {
			return overflow("-")
		}
		return -x
	case types.Double:
		return -x
	}
	return badArg("-", a)
}

// compare orders a and b as Spark does: numbers by value across int and
// double, NaN equal to itself and above every other number.
func compare(a, b ref.Val) (int, ref.Val) {
	if x, y, ok := ints(a, b); ok {
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
		return 0, nil
	}
	if x, y, ok := floats(a, b); ok {
		return compareFloat(x, y), nil
	}
	if c, ok := a.(traits.Comparer); ok && a.Type() == b.Type() {
		r := c.Compare(b)
		if i, ok := r.(types.Int); ok {
			return int(i), nil
		}
		return 0, r
	}
	return 0, errorf("cannot compare %s with %s", a.Type().TypeName(), b.Type().TypeName())
}

func compareFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}

// equal is Spark's `=` (or `!=` when negate): null if either side is null.
func equal(a, b ref.Val, negate bool) ref.Val {
	if isNull(a) || isNull(b) {
		return types.NullValue
	}
	var eq bool
	if x, y, ok := floats(a, b); ok {
		if i, j, ok := ints(a, b); ok {
			eq = i == j
		} else {
			eq = compareFloat(x, y) == 0
		}
	} else {
		eq = a.Equal(b) == types.True
	}
	return types.Bool(eq != negate)
}
