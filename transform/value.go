package transform

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/feathrgo/feathr/record"
)

// CompileValue compiles expr as Compile does, but without a declared
// feature type: nothing converts its result, so that a caller (a window
// aggregation's agg_expr or filter) can check the expression's type
// itself (Program.ResultType) and read its value with Value.
func (e *Env) CompileValue(expr string) (*Program, error) { return e.compile(expr, 0) }

// Value evaluates p for the record v was reset to and returns the
// expression's value as a record holds one (see record.Record): nil,
// bool, int64, float64, string, []byte, time.Time, []any or
// map[string]any, lists and maps holding the same. The program may be
// of Compile or of CompileValue: no declared type is applied.
func (p *Program) Value(v *Vars) (any, error) {
	if p.prg == nil {
		return v.r[p.field], nil
	}
	if p.fast != nil {
		var fv fval
		if ferr, ok := p.fast.eval(v.r, v.fieldCache(p.env), &fv); ok {
			if ferr != nil {
				return nil, fmt.Errorf("transform %q: %w", p.expr, ferr)
			}
			switch fv.k {
			case fInt:
				return fv.int(), nil
			case fDouble:
				return fv.double(), nil
			case fBool:
				return fv.bool(), nil
			case fString:
				return fv.s, nil
			}
			return nil, nil
		}
	}
	v.adapt = p.adapt
	val, _, err := p.prg.Eval(v)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", p.expr, err)
	}
	return native(val), nil
}

// native returns the record form of a CEL value.
func native(v ref.Val) any {
	switch x := v.(type) {
	case types.Null:
		return nil
	case types.Int:
		return int64(x)
	case types.Uint:
		return int64(x)
	case types.Double:
		return float64(x)
	case types.Bool:
		return bool(x)
	case types.String:
		return string(x)
	case types.Bytes:
		return []byte(x)
	case types.Timestamp:
		return x.Time
	case traits.Lister:
		if raw, ok := x.Value().([]any); ok {
			return raw
		}
		n := int(x.Size().(types.Int))
		out := make([]any, n)
		for i := range n {
			out[i] = native(x.Get(types.Int(i)))
		}
		return out
	case traits.Mapper:
		if raw, ok := x.Value().(map[string]any); ok {
			return raw
		}
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			out[fmt.Sprint(k.Value())] = native(x.Get(k))
		}
		return out
	}
	if t, ok := v.Value().(time.Time); ok {
		return t
	}
	return v.Value()
}

// recordType returns the record.Type of a CEL type: record.Any for a
// dynamic one.
func recordType(t *cel.Type) record.Type {
	var k record.Kind
	switch t.Kind() {
	case types.NullTypeKind:
		k = record.Null
	case types.BoolKind:
		k = record.Bool
	case types.IntKind, types.UintKind:
		k = record.Int
	case types.DoubleKind:
		k = record.Float
	case types.StringKind:
		k = record.String
	case types.BytesKind:
		k = record.Bytes
	case types.TimestampKind:
		k = record.Timestamp
	case types.ListKind, types.MapKind:
		k = record.Array
		if t.Kind() == types.MapKind {
			k = record.Map
		}
		out := record.Type{Kind: k}
		if ps := t.Parameters(); len(ps) > 0 {
			if e := recordType(ps[len(ps)-1]); e.Kind != record.Any {
				out.Elem = &e
			}
		}
		return out
	default:
		return record.Type{Kind: record.Any}
	}
	return record.Type{Kind: k}
}
