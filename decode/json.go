package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/feathrgo/feathr/record"
)

// jsonDecoder decodes one JSON object per message.
type jsonDecoder struct {
	t      *atype // nil: schemaless
	schema record.Schema
	lim    Limits
}

// NewJSON returns a decoder of messages that each hold one JSON object.
//
// With an Avro record schema, the object's members are checked and
// converted to the fields' types: a number for an int or long field must
// be integral (3.0 is accepted) and becomes int64; a timestamp or date
// field takes an RFC 3339 string (a string without zone is UTC, a date
// alone is accepted) or a number in the logical type's unit; bytes and
// fixed take a string, whose UTF-8 bytes are the value; a decimal takes a
// number or a numeric string. A missing or null member is null for a
// nullable field, else takes the field's default, else is an error.
// Members the schema does not name are dropped.
//
// Without a schema (schemaJSON empty), every member is kept, of kind
// record.Any: numbers become int64 when written as integers that fit, else
// float64; objects become map[string]any and arrays []any.
func NewJSON(schemaJSON string, lim Limits) (Decoder, error) {
	d := &jsonDecoder{lim: lim.withDefaults()}
	if schemaJSON != "" {
		t, err := parseAvro(schemaJSON)
		if err != nil {
			return nil, err
		}
		d.t, d.schema = t, schemaOf(t)
	}
	return d, nil
}

func (d *jsonDecoder) Schema() record.Schema { return d.schema }

func (d *jsonDecoder) Decode(b []byte) (record.Record, error) {
	if len(b) > d.lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), d.lim.MaxBytes)
	}
	if err := checkJSONDepth(b, d.lim.MaxDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: message is JSON %s, not an object", ErrMismatch, te.Value)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: message is JSON null, not an object", ErrMismatch)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: after the JSON object at byte %d", ErrTrailingData, dec.InputOffset())
	}
	if d.t == nil {
		normaliseNumbers(m)
		return record.Record(m), nil
	}
	out, err := coercer{}.record(m, d.t)
	if err != nil {
		return nil, err
	}
	return record.Record(out), nil
}

// normaliseNumbers replaces json.Number values in place: int64 when the
// literal is an integer that fits, else float64.
func normaliseNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64) // ±Inf when out of range
		return f
	case []any:
		for i, e := range x {
			x[i] = normaliseNumbers(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normaliseNumbers(e)
		}
	}
	return v
}

// checkJSONDepth refuses documents nesting objects and arrays deeper than
// max, before encoding/json recurses into them.
func checkJSONDepth(b []byte, max int) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return fmt.Errorf("%w: more than %d levels at byte %d", ErrTooDeep, max, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
