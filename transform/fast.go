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
// arithmetic, comparisons, boolean logic, if_else, null tests, casts,
// rand, randn and the math functions of one number, over int, double,
// bool and string) without the CEL interpreter: on Go
// values, with no boxing into CEL values and no activation. Compile builds
// the fast form of an expression when every part of it has one; the
// interpreter remains the reference, and the fast form gives exactly its
// results (values and errors), which TestFastPathMatchesCEL and
// FuzzFastPathMatchesCEL check. A
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
	index   int    // opField: the field's index in the schema
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

// eval evaluates n for r into v. ok is false when a field holds a Go
// value the fast path does not read; the caller then uses the
// interpreter. err is the CEL error the interpreter would give.
func (n *fnode) eval(r record.Record, fc *fieldCache, v *fval) (err *types.Err, ok bool) {
	switch n.op {
	case opField:
		if fc != nil {
			return fc.read(r, n, v)
		}
		return readField(r, n.field, v)
	case opConst:
		*v = n.val
		return nil, true
	}
	return n.evalCall(r, fc, v)
}

// readField reads the field name of r into v.
func readField(r record.Record, name string, v *fval) (err *types.Err, ok bool) {
	switch x := r[name].(type) {
	case nil:
		*v = fval{}
	case int64:
		*v = intVal(x)
	case float64:
		*v = doubleVal(x)
	case bool:
		*v = boolVal(x)
	case string:
		*v = fval{k: fString, s: x}
	default:
		return nil, false
	}
	return nil, true
}

// fieldCache keeps the fields of one record that fast forms read, by
// their index in the schema, so that each is looked up once for all the
// programs of an Env evaluated with one Vars.
type fieldCache struct {
	env  *Env
	gen  uint32   // the generation of the current record
	seen []uint32 // seen[i] == gen: vals[i] is field i of the record
	vals []fval
}

// reset forgets the fields read so far.
func (fc *fieldCache) reset() {
	fc.gen++
	if fc.gen == 0 {
		clear(fc.seen)
		fc.gen = 1
	}
}

// read reads the field of node n, an opField, into v.
func (fc *fieldCache) read(r record.Record, n *fnode, v *fval) (err *types.Err, ok bool) {
	if fc.seen[n.index] == fc.gen {
		*v = fc.vals[n.index]
		return nil, true
	}
	if err, ok = readField(r, n.field, v); ok {
		fc.seen[n.index] = fc.gen
		fc.vals[n.index] = *v
	}
	return err, ok
}

// evalCall evaluates a function or operator call.
func (n *fnode) evalCall(r record.Record, fc *fieldCache, v *fval) (err *types.Err, ok bool) {
	// Arguments are evaluated in order; the first error is the result, as
	// in the interpreter.
	var a, b, c fval
	if n.a != nil {
		if err, ok = n.a.eval(r, fc, &a); !ok || err != nil {
			return err, ok
		}
	}
	if n.b != nil {
		if err, ok = n.b.eval(r, fc, &b); !ok || err != nil {
			return err, ok
		}
	}
	if n.c != nil {
		if err, ok = n.c.eval(r, fc, &c); !ok || err != nil {
			return err, ok
		}
	}
	switch n.op {
	case opAnd:
		return fastAnd(&a, &b, v)
	case opOr:
		return fastOr(&a, &b, v)
	case opIfElse:
		if a.k != fBool && a.k != fNull {
			return nil, false
		}
		res := &c
		if a.isTrue() {
			res = &b
		}
		if res.k == fInt && n.promote {
			*v = doubleVal(float64(res.int()))
		} else {
			*v = *res
		}
		return nil, true
	case opRand:
		*v = doubleVal(n.rand())
		return nil, true
	case opIsNull:
		*v = boolVal(a.k == fNull)
		return nil, true
	case opIsNotNull:
		*v = boolVal(a.k != fNull)
		return nil, true
	}
	// The other functions are null when an argument is.
	if a.k == fNull || (n.b != nil && b.k == fNull) {
		*v = fval{}
		return nil, true
	}
	switch n.op {
	case opAdd, opSub, opMul:
		return fastArith(n.op, &a, &b, v)
	case opDiv:
		x, y, fok := fastFloats(&a, &b)
		if !fok {
			return nil, false
		}
		if y == 0 {
			*v = fval{}
		} else {
			*v = doubleVal(x / y)
		}
		return nil, true
	case opMod:
		if a.k == fInt && b.k == fInt {
			if b.int() == 0 {
				*v = fval{}
			} else {
				*v = intVal(a.int() % b.int())
			}
			return nil, true
		}
		x, y, fok := fastFloats(&a, &b)
		if !fok {
			return nil, false
		}
		if y == 0 {
			*v = fval{}
		} else {
			*v = doubleVal(math.Mod(x, y))
		}
		return nil, true
	case opNeg:
		switch a.k {
		case fInt:
			if a.int() == math.MinInt64 {
				return overflow("-").(*types.Err), true
			}
			*v = intVal(-a.int())
		case fDouble:
			*v = doubleVal(-a.double())
		default:
			return nil, false
		}
		return nil, true
	case opLess, opLessEq, opGreater, opGreaterEq:
		cmp, cok := fastCompare(&a, &b)
		if !cok {
			return nil, false
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
		*v = boolVal(res)
		return nil, true
	case opEq, opNe:
		var eq bool
		switch {
		case a.k == fInt && b.k == fInt:
			eq = a.n == b.n
		case isNum(&a) && isNum(&b):
			x, y, _ := fastFloats(&a, &b)
			eq = compareFloat(x, y) == 0
		case a.k == fString && b.k == fString:
			eq = a.s == b.s
		case a.k == fBool && b.k == fBool:
			eq = a.n == b.n
		default:
			return nil, false
		}
		*v = boolVal(eq != (n.op == opNe))
		return nil, true
	case opNot:
		if a.k != fBool {
			return nil, false
		}
		*v = boolVal(!a.bool())
		return nil, true
	case opCastInt:
		if a.k == fString {
			return n.viaCEL(&a, v)
		}
		return fastCastInt(n.name, &a, n.lo, n.hi, v)
	case opCastDouble, opCastFloat:
		var f float64
		switch a.k {
		case fDouble:
			f = a.double()
		case fInt:
			f = float64(a.int())
		case fBool:
			if a.bool() {
				f = 1
			}
		default:
			return n.viaCEL(&a, v)
		}
		if n.op == opCastFloat {
			f = float64(float32(f))
		}
		*v = doubleVal(f)
		return nil, true
	case opCastBool:
		switch a.k {
		case fBool:
			*v = a
		case fInt:
			*v = boolVal(a.int() != 0)
		case fDouble:
			*v = boolVal(a.double() != 0)
		default:
			return n.viaCEL(&a, v)
		}
		return nil, true
	case opFloat1:
		var x float64
		switch a.k {
		case fInt:
			x = float64(a.int())
		case fDouble:
			x = a.double()
		default:
			return nil, false
		}
		if n.nullIf != nil && n.nullIf(x) {
			*v = fval{}
		} else {
			*v = doubleVal(n.float1(x))
		}
		return nil, true
	case opCastString:
		switch a.k {
		case fString:
			*v = a
		case fInt:
			*v = fval{k: fString, s: strconv.FormatInt(a.int(), 10)}
		case fDouble:
			*v = fval{k: fString, s: formatDouble(a.double())}
		case fBool:
			*v = fval{k: fString, s: strconv.FormatBool(a.bool())}
		default:
			return nil, false
		}
		return nil, true
	}
	return nil, false
}

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
		// Every part of a fast form, an argument of isnull too, has one
		// of the four types: a null literal, a dyn field, a timestamp or
		// a list has no fast form.
		return nil
	}
	switch x.Kind() {
	case ast.IdentKind:
		for i, f := range e.schema.Fields {
			if f.Name != x.AsIdent() {
				continue
			}
			switch f.Type.Kind {
			case record.Int, record.Float, record.Bool, record.String:
				return &fnode{op: opField, field: f.Name, index: i}
			}
			return nil
		}
		return nil
	case ast.LiteralKind:
		var v fval
		if _, ok := fromVal(x.AsLiteral(), &v); !ok || v.k == fNull {
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
