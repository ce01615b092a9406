package transform

import (
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	expr   string
	out    feature.Type
	fields []string
	field  string      // set when the expression is just this field
	prg    cel.Program // nil when field is set
	adapt  types.Adapter
	fast   *fnode // the fast form, when the expression has one
	env    *Env   // the environment that compiled the fast form
	result record.Type
}

// Fast reports whether the program evaluates without the CEL interpreter:
// it is a field, or an expression the fast path evaluates (see fastcompile.go).
func (p *Program) Fast() bool { return p.prg == nil || p.fast != nil }

// String returns the expression's source text.
func (p *Program) String() string { return p.expr }

// Type returns the declared feature type the program converts to; 0 for
// a program of CompileValue.
func (p *Program) Type() feature.Type { return p.out }

// ResultType returns the type the expression checks to, before any
// conversion to the declared type: record.Any when it is only known per
// record (a field of a schemaless source, say).
func (p *Program) ResultType() record.Type { return p.result }

// Fields returns the top-level fields the expression reads, in order of
// first use. The caller must not modify the slice.
func (p *Program) Fields() []string { return p.fields }

// Eval evaluates the expression for r and returns its value converted to
// the declared type by feature.Convert: bool, int32, int64, float32,
// float64, string, []byte, []float32, []int32, []int64 or []float64, or
// nil for a null result. A field missing from r reads as null.
//
// The error reports a failure for this record only: an overflow, a value
// that does not fit the declared type, an argument a function refuses.
func (p *Program) Eval(r record.Record) (any, error) {
	if p.prg == nil {
		v, err := feature.Convert(r[p.field], p.out)
		if err != nil {
			return nil, fmt.Errorf("transform %q: %w", p.expr, err)
		}
		return v, nil
	}
	if p.fast != nil {
		if v, err, ok := p.evalFast(r, nil); ok {
			return v, err
		}
	}
	return p.evalCEL(r)
}

// evalFast evaluates the fast form; ok is false when r holds a value it
// does not read.
func (p *Program) evalFast(r record.Record, fc *fieldCache) (any, error, bool) {
	var fv fval
	ferr, ok := p.fast.eval(r, fc, &fv)
	if !ok {
		return nil, nil, false
	}
	if ferr != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, ferr), true
	}
	v, err := convertFast(&fv, p.out)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err), true
	}
	return v, nil, true
}

// evalCEL is Eval by the CEL interpreter.
func (p *Program) evalCEL(r record.Record) (any, error) {
	val, _, err := p.prg.Eval(activation(r))
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err)
	}
	v, err := convert(val, p.out)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err)
	}
	return v, nil
}

// EvalVars is Eval of the record v was reset to. The programs evaluated
// with one Vars share its conversions of the record's fields.
func (p *Program) EvalVars(v *Vars) (any, error) {
	if p.prg == nil {
		return p.Eval(v.r)
	}
	if p.fast != nil {
		if out, err, ok := p.evalFast(v.r, v.fieldCache(p.env)); ok {
			return out, err
		}
	}
	return p.evalVarsCEL(v)
}

// EvalScalar is EvalVars for a program whose declared type is a scalar
// (not a vector), without boxing the result, so that evaluating a field
// or a fast form allocates nothing: ok is false for a null result.
func (p *Program) EvalScalar(v *Vars) (s feature.Scalar, ok bool, err error) {
	if p.prg == nil {
		if s, ok, err = feature.ScalarOf(v.r[p.field], p.out); err != nil {
			return feature.Scalar{}, false, fmt.Errorf("transform %q: %w", p.expr, err)
		}
		return s, ok, nil
	}
	if p.fast != nil {
		var fv fval
		if ferr, handled := p.fast.eval(v.r, v.fieldCache(p.env), &fv); handled {
			if ferr != nil {
				return feature.Scalar{}, false, fmt.Errorf("transform %q: %w", p.expr, ferr)
			}
			if s, ok, err = scalarFast(&fv, p.out); err != nil {
				return feature.Scalar{}, false, fmt.Errorf("transform %q: %w", p.expr, err)
			}
			return s, ok, nil
		}
	}
	out, err := p.evalVarsCEL(v)
	if err != nil {
		return feature.Scalar{}, false, err
	}
	return feature.ScalarOf(out, p.out) // converted already: no error
}

// evalVarsCEL is EvalVars by the CEL interpreter.
func (p *Program) evalVarsCEL(v *Vars) (any, error) {
	v.adapt = p.adapt
	val, _, err := p.prg.Eval(v)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err)
	}
	out, err := convert(val, p.out)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err)
	}
	return out, nil
}

// Vars is the activation of one record for the programs that read it:
// each field the expressions read is converted to its CEL value once, for
// all of them, where Eval converts it at every read. A Vars is for one
// goroutine at a time; Reset readies it for the next record, keeping its
// memory. The zero value is ready for Reset.
type Vars struct {
	r     record.Record
	adapt types.Adapter
	vals  []namedVal
	fast  fieldCache
}

// fieldCache returns the cache of the fields fast forms compiled by env
// read, which holds nothing of another environment's.
func (v *Vars) fieldCache(env *Env) *fieldCache {
	fc := &v.fast
	if fc.env != env {
		n := len(env.schema.Fields)
		*fc = fieldCache{env: env, gen: 1, seen: make([]uint32, n), vals: make([]fval, n)}
	}
	return fc
}

type namedVal struct {
	name string
	val  ref.Val
}

// Reset makes v read r, forgetting the values of the previous record.
func (v *Vars) Reset(r record.Record) {
	v.r = r
	clear(v.vals)
	v.vals = v.vals[:0]
	if v.fast.env != nil {
		v.fast.reset()
		if r == nil {
			clear(v.fast.vals) // keep no strings of the record
		}
	}
}

// ResolveName returns the CEL value of the field name; a missing field
// reads as null.
func (v *Vars) ResolveName(name string) (any, bool) {
	for i := range v.vals {
		if v.vals[i].name == name {
			return v.vals[i].val, true
		}
	}
	val := v.adapt.NativeToValue(v.r[name])
	v.vals = append(v.vals, namedVal{name, val})
	return val, true
}

// Parent returns nil: there is no enclosing activation.
func (v *Vars) Parent() interpreter.Activation { return nil }

// activation reads a record's fields for the interpreter without copying
// them into a map of CEL values; a missing field reads as null.
type activation record.Record

// ResolveName returns the value of the field name.
func (a activation) ResolveName(name string) (any, bool) { return a[name], true }

// Parent returns nil: there is no enclosing activation.
func (a activation) Parent() interpreter.Activation { return nil }

// convert converts a CEL result to the Go form of t.
func convert(v ref.Val, t feature.Type) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Int:
		return feature.FromInt64(int64(x), t)
	case types.Double:
		return feature.FromFloat64(float64(x), t)
	case types.Bool:
		return feature.Convert(bool(x), t)
	case types.String:
		return feature.Convert(string(x), t)
	case types.Bytes:
		return feature.Convert([]byte(x), t)
	case traits.Lister:
		if raw, ok := x.Value().([]any); ok {
			return feature.Convert(raw, t)
		}
		n := int(x.Size().(types.Int))
		elems := make([]any, n)
		for i := range n {
			e := x.Get(types.Int(i))
			if !isNull(e) {
				elems[i] = e.Value()
			}
		}
		return feature.Convert(elems, t)
	}
	return feature.Convert(v.Value(), t)
}
