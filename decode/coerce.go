package decode

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// coercer converts a JSON value (as encoding/json decodes it with
// UseNumber, or a schema default) to the representation of an Avro type.
type coercer struct {
	// avroBytes decodes strings for bytes and fixed as the Avro
	// specification's JSON encoding does (code points 0-255 are bytes), as
	// schema defaults require; otherwise a string's UTF-8 bytes are used.
	avroBytes bool
}

func mismatchf(t *atype, v any) error {
	return fmt.Errorf("%w: want %s, have %s", ErrMismatch, typeName(t), jsonKind(v))
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number " + string(x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return strconv.Quote(x)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func (c coercer) coerce(v any, t *atype) (any, error) {
	switch t.kind {
	case aUnion:
		if v == nil {
			if t.nullIndex() >= 0 {
				return nil, nil
			}
			return nil, mismatchf(t, v)
		}
		var first error
		for _, b := range t.branches {
			if b.kind == aNull {
				continue
			}
			out, err := c.coerce(v, b)
			if err == nil {
				return out, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	case aNull:
		if v == nil {
			return nil, nil
		}
	case aBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case aInt, aLong:
		if s, ok := v.(string); ok && t.logical.isTime() {
			return parseTime(s, t)
		}
		if n, ok := v.(json.Number); ok {
			i, err := integral(n)
			if err != nil {
				return nil, fmt.Errorf("%w: want %s: %v", ErrMismatch, typeName(t), err)
			}
			if t.kind == aInt && (i < math.MinInt32 || i > math.MaxInt32) {
				return nil, fmt.Errorf("%w: %d overflows int", ErrMismatch, i)
			}
			return convInt(i, timeConv(t.logical)), nil
		}
	case aFloat, aDouble:
		if n, ok := v.(json.Number); ok {
			return n.Float64()
		}
	case aBytes, aFixed:
		if t.logical == lDecimal {
			return c.decimal(v, t)
		}
		if s, ok := v.(string); ok {
			b, err := c.bytes(s)
			if err != nil {
				return nil, err
			}
			if t.kind == aFixed && len(b) != t.size {
				return nil, fmt.Errorf("%w: %s needs %d bytes, have %d", ErrMismatch, typeName(t), t.size, len(b))
			}
			return b, nil
		}
	case aString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case aEnum:
		if s, ok := v.(string); ok {
			if symbolIndex(t.symbols, s) < 0 {
				return nil, fmt.Errorf("%w: %q is not a symbol of %s", ErrMismatch, s, typeName(t))
			}
			return s, nil
		}
	case aArray:
		if a, ok := v.([]any); ok {
			out := make([]any, len(a))
			for i, e := range a {
				var err error
				if out[i], err = c.coerce(e, t.elem); err != nil {
					return nil, fieldError(fmt.Sprintf("[%d]", i), err)
				}
			}
			return out, nil
		}
	case aMap:
		if m, ok := v.(map[string]any); ok {
			out := make(map[string]any, len(m))
			for k, e := range m {
				var err error
				if out[k], err = c.coerce(e, t.elem); err != nil {
					return nil, fieldError(fmt.Sprintf("[%q]", k), err)
				}
			}
			return out, nil
		}
	case aRecord:
		if m, ok := v.(map[string]any); ok {
			return c.record(m, t)
		}
	}
	return nil, mismatchf(t, v)
}

// record converts an object to a record's fields; other members are
// dropped. A missing field is null when nullable, else takes its default;
// so does an explicit null for a field that is not nullable.
func (c coercer) record(m map[string]any, t *atype) (map[string]any, error) {
	out := make(map[string]any, len(t.fields))
	for _, f := range t.fields {
		v, ok := m[f.name]
		nullable := f.typ.kind == aUnion && f.typ.nullIndex() >= 0
		if ok && v == nil && !nullable && f.hasDef {
			ok = false // an explicit null takes the default too
		}
		switch {
		case ok:
			cv, err := c.coerce(v, f.typ)
			if err != nil {
				return nil, fieldError(f.name, err)
			}
			out[f.name] = cv
		case f.hasDef:
			out[f.name] = cloneValue(f.def)
		case nullable:
			out[f.name] = nil
		default:
			return nil, fmt.Errorf("%w: %q", ErrMissingField, f.name)
		}
	}
	return out, nil
}

// integral returns n as an int64 if it is an integer, also when written
// with a fraction or exponent (3.0, 1e3).
func integral(n json.Number) (int64, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, fmt.Errorf("%s is not an integer in range", n)
	}
	return int64(f), nil
}

func (c coercer) bytes(s string) ([]byte, error) {
	if !c.avroBytes {
		return []byte(s), nil
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("%w: bytes default has code point %U above U+00FF", ErrMismatch, r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

func (c coercer) decimal(v any, t *atype) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case string:
		if c.avroBytes {
			b, err := c.bytes(x)
			if err != nil {
				return nil, err
			}
			return decimalFloat(b, t.scale), nil
		}
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: want decimal, have %s", ErrMismatch, jsonKind(v))
		}
		return f, nil
	}
	return nil, mismatchf(t, v)
}

// parseTime parses a timestamp or date given as a string: RFC 3339, or
// the same without a zone, or a date alone; a string without a zone is UTC.
func parseTime(s string, t *atype) (any, error) {
	for _, l := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if tm, err := time.Parse(l, s); err == nil {
			if t.logical == lDate {
				y, m, d := tm.Date()
				return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
			}
			return tm.UTC(), nil
		}
	}
	return nil, fmt.Errorf("%w: want an RFC 3339 timestamp, have %s", ErrMismatch, jsonKind(s))
}

// defaultValue converts a field's schema default to its normalised value.
func defaultValue(n *jnode, t *atype) (any, error) {
	v, err := (coercer{avroBytes: true}).coerce(jnodeValue(n), t)
	if err != nil {
		return nil, schemaErrorf(n.off, "invalid default: %v", err)
	}
	return v, nil
}

// jnodeValue converts a schema JSON node to the form encoding/json gives
// with UseNumber.
func jnodeValue(n *jnode) any {
	switch n.kind {
	case 'b':
		return n.b
	case 'f':
		return json.Number(n.s)
	case 's':
		return n.s
	case 'a':
		out := make([]any, len(n.arr))
		for i, e := range n.arr {
			out[i] = jnodeValue(e)
		}
		return out
	case 'o':
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k] = jnodeValue(n.vals[i])
		}
		return out
	}
	return nil
}
