package transform

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

// The fast path evaluates the common expressions (fields, constants,
// arithmetic, comparisons, boolean logic, if_else, null tests and casts
// over int, double, bool and string) without the CEL interpreter: on Go
// values, with no boxing into CEL values and no activation. Compile builds
// the fast form of an expression when every part of it has one; the
// interpreter remains the reference, and the fast form gives exactly its
// results (values and errors), which FuzzFastPathMatchesCEL checks. A
// record whose field holds a Go value of another type than its schema's
// (which a decoder never produces) is evaluated by the interpreter.

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
// or a string.
type fval struct {
	k fkind
	b bool
	i int64
	f float64
	s string
}

// fop is the operation of a fast node.
type fop uint8

const (
	opField fop = iota
	opConst
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opNeg
	opLess
	opLessEq
	opGreater
	opGreaterEq
	opEq
	opNe
	opAnd
	opOr
	opNot
	opIfElse
	opIsNull
	opIsNotNull
	opCastInt
	opCastDouble
	opCastFloat
	opCastBool
	opCastString
	opFloat1 // a math function of one number
	opRand   // rand and randn
)

// fnode is one expression of a fast form.
type fnode struct {
	op      fop
	field   string // opField
	val     fval   // opConst
	a, b, c *fnode // arguments, in order
	name    string // the function's name, for errors
	lo, hi  int64  // opCastInt: the target's range
	promote bool   // opIfElse: an int result becomes a double
	// cast is the library's implementation of a cast, for the arguments
	// the fast path does not convert itself (strings to parse).
	cast func(ref.Val) ref.Val
	// opFloat1: the function and when it is null; opRand: the generator.
	float1 func(float64) float64
	nullIf func(float64) bool
	rand   func() float64
}

// evalFast evaluates n for r. ok is false when a field holds a Go value
// the fast path does not read; the caller then uses the interpreter.
// err is the CEL error the interpreter would return.
func (n *fnode) eval(r record.Record) (v fval, err *types.Err, ok bool) {
	switch n.op {
	case opField:
		switch x := r[n.field].(type) {
		case nil:
			return fval{}, nil, true
		case int64:
			return fval{k: fInt, i: x}, nil, true
		case float64:
			return fval{k: fDouble, f: x}, nil, true
		case bool:
			return fval{k: fBool, b: x}, nil, true
		case string:
			return fval{k: fString, s: x}, nil, true
		}
		return fval{}, nil, false
	case opConst:
		return n.val, nil, true
	}
	// Arguments are evaluated in order; the first error is the result, as
	// in the interpreter.
	var a, b, c fval
	if n.a != nil {
		if a, err, ok = n.a.eval(r); !ok || err != nil {
			return fval{}, err, ok
		}
	}
	if n.b != nil {
		if b, err, ok = n.b.eval(r); !ok || err != nil {
			return fval{}, err, ok
		}
	}
	if n.c != nil {
		if c, err, ok = n.c.eval(r); !ok || err != nil {
			return fval{}, err, ok
		}
	}
	switch n.op {
	case opAnd:
		return fastAnd(a, b)
	case opOr:
		return fastOr(a, b)
	case opIfElse:
		r := c
		if a.k == fBool && a.b {
			r = b
		} else if a.k != fBool && a.k != fNull {
			return fval{}, nil, false
		}
		if r.k == fInt && n.promote {
			return fval{k: fDouble, f: float64(r.i)}, nil, true
		}
		return r, nil, true
	case opRand:
		return fval{k: fDouble, f: n.rand()}, nil, true
	case opIsNull:
		return fval{k: fBool, b: a.k == fNull}, nil, true
	case opIsNotNull:
		return fval{k: fBool, b: a.k != fNull}, nil, true
	}
	// The other functions are null when an argument is.
	if a.k == fNull || (n.b != nil && b.k == fNull) {
		return fval{}, nil, true
	}
	switch n.op {
	case opAdd, opSub, opMul:
		return fastArith(n.op, a, b)
	case opDiv:
		x, y, fok := fastFloats(a, b)
		if !fok {
			return fval{}, nil, false
		}
		if y == 0 {
			return fval{}, nil, true
		}
		return fval{k: fDouble, f: x / y}, nil, true
	case opMod:
		if a.k == fInt && b.k == fInt {
			if b.i == 0 {
				return fval{}, nil, true
			}
			return fval{k: fInt, i: a.i % b.i}, nil, true
		}
		x, y, fok := fastFloats(a, b)
		if !fok {
			return fval{}, nil, false
		}
		if y == 0 {
			return fval{}, nil, true
		}
		return fval{k: fDouble, f: math.Mod(x, y)}, nil, true
	case opNeg:
		switch a.k {
		case fInt:
			if a.i == math.MinInt64 {
				return fval{}, overflow("-").(*types.Err), true
			}
			return fval{k: fInt, i: -a.i}, nil, true
		case fDouble:
			return fval{k: fDouble, f: -a.f}, nil, true
		}
		return fval{}, nil, false
	case opLess, opLessEq, opGreater, opGreaterEq:
		cmp, cok := fastCompare(a, b)
		if !cok {
			return fval{}, nil, false
		}
		var res bool
		switch n.op {
		case opLess:
			res = cmp < 0
		case opLessEq:
			res = cmp <= 0
		case opGreater:
			res = cmp > 0
		default:
			res = cmp >= 0
		}
		return fval{k: fBool, b: res}, nil, true
	case opEq, opNe:
		var eq bool
		switch {
		case a.k == fInt && b.k == fInt:
			eq = a.i == b.i
		case isNum(a) && isNum(b):
			x, y, _ := fastFloats(a, b)
			eq = compareFloat(x, y) == 0
		case a.k == fString && b.k == fString:
			eq = a.s == b.s
		case a.k == fBool && b.k == fBool:
			eq = a.b == b.b
		default:
			return fval{}, nil, false
		}
		return fval{k: fBool, b: eq != (n.op == opNe)}, nil, true
	case opNot:
		if a.k != fBool {
			return fval{}, nil, false
		}
		return fval{k: fBool, b: !a.b}, nil, true
	case opCastInt:
		if a.k == fString {
			return n.viaCEL(a)
		}
		return fastCastInt(n.name, a, n.lo, n.hi)
	case opCastDouble, opCastFloat:
		var f float64
		switch a.k {
		case fDouble:
			f = a.f
		case fInt:
			f = float64(a.i)
		case fBool:
			if a.b {
				f = 1
			}
		default:
			return n.viaCEL(a)
		}
		if n.op == opCastFloat {
			f = float64(float32(f))
		}
		return fval{k: fDouble, f: f}, nil, true
	case opCastBool:
		switch a.k {
		case fBool:
			return a, nil, true
		case fInt:
			return fval{k: fBool, b: a.i != 0}, nil, true
		case fDouble:
			return fval{k: fBool, b: a.f != 0}, nil, true
		}
		return n.viaCEL(a)
	case opFloat1:
		var x float64
		switch a.k {
		case fInt:
			x = float64(a.i)
		case fDouble:
			x = a.f
		default:
			return fval{}, nil, false
		}
		if n.nullIf != nil && n.nullIf(x) {
			return fval{}, nil, true
		}
		return fval{k: fDouble, f: n.float1(x)}, nil, true
	case opCastString:
		switch a.k {
		case fString:
			return a, nil, true
		case fInt:
			return fval{k: fString, s: strconv.FormatInt(a.i, 10)}, nil, true
		case fDouble:
			return fval{k: fString, s: formatDouble(a.f)}, nil, true
		case fBool:
			return fval{k: fString, s: strconv.FormatBool(a.b)}, nil, true
		}
	}
	return fval{}, nil, false
}

func isNum(v fval) bool { return v.k == fInt || v.k == fDouble }

// fastFloats is floats of the fast path.
func fastFloats(a, b fval) (float64, float64, bool) {
	var x, y float64
	switch a.k {
	case fInt:
		x = float64(a.i)
	case fDouble:
		x = a.f
	default:
		return 0, 0, false
	}
	switch b.k {
	case fInt:
		y = float64(b.i)
	case fDouble:
		y = b.f
	default:
		return 0, 0, false
	}
	return x, y, true
}

// fastArith is add, sub and mul of the fast path.
func fastArith(op fop, a, b fval) (fval, *types.Err, bool) {
	if a.k == fInt && b.k == fInt {
		x, y := a.i, b.i
		var r int64
		switch op {
		case opAdd:
			r = x + y
			if (x^r)&(y^r) < 0 {
				return fval{}, overflow("+").(*types.Err), true
			}
		case opSub:
			r = x - y
			if (x^y)&(x^r) < 0 {
				return fval{}, overflow("-").(*types.Err), true
			}
		default:
			var ok bool
			if r, ok = mulInt(x, y); !ok {
				return fval{}, overflow("*").(*types.Err), true
			}
		}
		return fval{k: fInt, i: r}, nil, true
	}
	if x, y, ok := fastFloats(a, b); ok {
		switch op {
		case opAdd:
			return fval{k: fDouble, f: x + y}, nil, true
		case opSub:
			return fval{k: fDouble, f: x - y}, nil, true
		}
		return fval{k: fDouble, f: x * y}, nil, true
	}
	if op == opAdd && a.k == fString && b.k == fString {
		return fval{k: fString, s: a.s + b.s}, nil, true
	}
	return fval{}, nil, false
}

// fastCompare is compare of the fast path.
func fastCompare(a, b fval) (int, bool) {
	if a.k == fInt && b.k == fInt {
		switch {
		case a.i < b.i:
			return -1, true
		case a.i > b.i:
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
		case a.b == b.b:
			return 0, true
		case !a.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func fastAnd(a, b fval) (fval, *types.Err, bool) {
	if (a.k == fBool && !a.b) || (b.k == fBool && !b.b) {
		return fval{k: fBool}, nil, true
	}
	if a.k == fNull || b.k == fNull {
		return fval{}, nil, true
	}
	if a.k != fBool || b.k != fBool {
		return fval{}, nil, false
	}
	return fval{k: fBool, b: true}, nil, true
}

func fastOr(a, b fval) (fval, *types.Err, bool) {
	if (a.k == fBool && a.b) || (b.k == fBool && b.b) {
		return fval{k: fBool, b: true}, nil, true
	}
	if a.k == fNull || b.k == fNull {
		return fval{}, nil, true
	}
	if a.k != fBool || b.k != fBool {
		return fval{}, nil, false
	}
	return fval{k: fBool}, nil, true
}

// fastCastInt is castInt of the fast path.
func fastCastInt(name string, a fval, lo, hi int64) (fval, *types.Err, bool) {
	var i int64
	switch a.k {
	case fInt:
		i = a.i
	case fDouble:
		f := math.Trunc(a.f)
		if math.IsNaN(f) || f < float64(lo) || f >= float64(hi)+1 {
			return fval{}, errorf("%s: %g out of range", name, a.f).(*types.Err), true
		}
		i = int64(f)
	case fBool:
		if a.b {
			i = 1
		}
	default:
		return fval{}, nil, false
	}
	if i < lo || i > hi {
		return fval{}, errorf("%s: %d out of range", name, i).(*types.Err), true
	}
	return fval{k: fInt, i: i}, nil, true
}

// viaCEL applies the library's implementation of n's cast to a, which is
// not null.
func (n *fnode) viaCEL(a fval) (fval, *types.Err, bool) {
	if n.cast == nil {
		return fval{}, nil, false
	}
	return fromVal(n.cast(toVal(a)))
}

func toVal(a fval) ref.Val {
	switch a.k {
	case fInt:
		return types.Int(a.i)
	case fDouble:
		return types.Double(a.f)
	case fBool:
		return types.Bool(a.b)
	case fString:
		return types.String(a.s)
	}
	return types.NullValue
}

func fromVal(v ref.Val) (fval, *types.Err, bool) {
	switch x := v.(type) {
	case types.Null:
		return fval{}, nil, true
	case types.Int:
		return fval{k: fInt, i: int64(x)}, nil, true
	case types.Double:
		return fval{k: fDouble, f: float64(x)}, nil, true
	case types.Bool:
		return fval{k: fBool, b: bool(x)}, nil, true
	case types.String:
		return fval{k: fString, s: string(x)}, nil, true
	case *types.Err:
		return fval{}, x, true
	}
	return fval{}, nil, false
}

// convertFast converts a fast result to the Go form of t, as convert does
// for the CEL value.
func convertFast(v fval, t feature.Type) (any, error) {
	switch v.k {
	case fInt:
		return feature.FromInt64(v.i, t)
	case fDouble:
		return feature.FromFloat64(v.f, t)
	case fBool:
		return feature.Convert(v.b, t)
	case fString:
		return feature.Convert(v.s, t)
	}
	return nil, nil
}

// arity is the number of arguments of each operation.
var arity = [...]int{opField: 0, opConst: 0, opAdd: 2, opSub: 2, opMul: 2, opDiv: 2, opMod: 2, opNeg: 1,
	opLess: 2, opLessEq: 2, opGreater: 2, opGreaterEq: 2, opEq: 2, opNe: 2, opAnd: 2, opOr: 2, opNot: 1,
	opIfElse: 3, opIsNull: 1, opIsNotNull: 1, opCastInt: 1, opCastDouble: 1, opCastFloat: 1, opCastBool: 1,
	opCastString: 1, opFloat1: 1, opRand: 0}

// fastForm returns the fast form of x, an expression of the checked AST
// a, or nil when some part of it has none.
func (e *Env) fastForm(a *ast.AST, x ast.Expr) *fnode {
	kind := func(y ast.Expr) fkind {
		switch a.GetType(y.ID()).Kind() {
		case types.IntKind:
			return fInt
		case types.DoubleKind:
			return fDouble
		case types.BoolKind:
			return fBool
		case types.StringKind:
			return fString
		}
		return fNull // unsupported
	}
	if kind(x) == fNull {
		// Only isnull and isnotnull accept any argument; every value the
		// fast path computes has one of its four types.
		return nil
	}
	switch x.Kind() {
	case ast.IdentKind:
		f, ok := e.schema.Field(x.AsIdent())
		if !ok {
			return nil
		}
		switch f.Type.Kind {
		case record.Int, record.Float, record.Bool, record.String:
			return &fnode{op: opField, field: f.Name}
		}
		return nil
	case ast.LiteralKind:
		v, _, ok := fromVal(x.AsLiteral())
		if !ok || v.k == fNull {
			return nil
		}
		return &fnode{op: opConst, val: v}
	case ast.CallKind:
	default:
		return nil
	}
	c := x.AsCall()
	if c.IsMemberFunction() {
		return nil
	}
	args := c.Args()
	n := &fnode{name: c.FunctionName()}
	switch n.name {
	case operators.Add, operators.Subtract, operators.Multiply, operators.Divide, operators.Modulo:
		n.op = map[string]fop{operators.Add: opAdd, operators.Subtract: opSub, operators.Multiply: opMul,
			operators.Divide: opDiv, operators.Modulo: opMod}[n.name]
		if len(args) != 2 {
			return nil
		}
		if kind(args[0]) == fString && (n.op != opAdd || kind(args[1]) != fString) {
			return nil
		}
	case operators.Negate:
		n.op = opNeg
	case operators.Less:
		n.op = opLess
	case operators.LessEquals:
		n.op = opLessEq
	case operators.Greater:
		n.op = opGreater
	case operators.GreaterEquals:
		n.op = opGreaterEq
	case eqFn:
		n.op = opEq
	case neFn:
		n.op = opNe
	case "and":
		n.op = opAnd
	case "or":
		n.op = opOr
	case "not":
		n.op = opNot
	case "if_else":
		n.op = opIfElse
		if len(args) != 3 {
			return nil
		}
		k1, k2 := kind(args[1]), kind(args[2])
		n.promote = k1 != k2 // the (int, double) and (double, int) overloads
	case "isnull", "isnotnull":
		n.op = opIsNull
		if n.name == "isnotnull" {
			n.op = opIsNotNull
		}
	case "cast_int":
		n.op, n.lo, n.hi = opCastInt, math.MinInt32, math.MaxInt32
	case "cast_long":
		n.op, n.lo, n.hi = opCastInt, math.MinInt64, math.MaxInt64
	case "cast_double":
		n.op = opCastDouble
	case "cast_float":
		n.op = opCastFloat
	case "cast_bool":
		n.op = opCastBool
	case "cast_string":
		n.op = opCastString
	case "rand":
		n.op, n.rand = opRand, rand.Float64
	case "randn":
		n.op, n.rand = opRand, rand.NormFloat64
	default:
		f := e.lib[n.name]
		if f == nil || f.float1 == nil {
			return nil
		}
		n.op, n.float1, n.nullIf = opFloat1, f.float1, f.nullIf
	}
	switch {
	case n.op == opRand:
		if len(args) > 1 {
			return nil
		}
	case len(args) != arity[n.op]:
		return nil
	case n.op >= opCastInt && n.op <= opCastString:
		n.cast = e.lib[n.name].unary
	}
	nodes := make([]*fnode, len(args))
	for i, y := range args {
		if nodes[i] = e.fastForm(a, y); nodes[i] == nil {
			return nil
		}
	}
	if len(nodes) > 0 {
		n.a = nodes[0]
	}
	if len(nodes) > 1 {
		n.b = nodes[1]
	}
	if len(nodes) > 2 {
		n.c = nodes[2]
	}
	return n
}
