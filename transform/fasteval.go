package transform

import (
	"math"
	"strconv"

	"cel.dev/cel-go/common/types"

	"github.com/feathrgo/feathr/record"
)

// The evaluation of a fast form for one record: its nodes, the fields it
// reads (once per record for all the programs of an Env), and its calls.

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
