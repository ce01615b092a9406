package transform

import (
	"math"
	"math/rand/v2"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

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
//
// Its files: fastcompile.go (this one: the nodes of a fast form and how
// Compile builds them from the checked AST), fasteval.go (evaluating a
// form for a record), fastops.go (the operators) and fastval.go (the
// values and their conversions).

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
