package decode

import "github.com/feathrgo/feathr/record"

// ParseAvroSchema, and the record.Schema of a parsed Avro type.

// ParseAvroSchema parses an Avro schema whose top-level type is a record
// and returns the record's fields as a record.Schema. Errors are
// *SchemaError; for JSON syntax errors and most semantic errors Offset is
// the byte offset of the offending text.
func ParseAvroSchema(schemaJSON string) (record.Schema, error) {
	t, err := parseAvro(schemaJSON)
	if err != nil {
		return record.Schema{}, err
	}
	return schemaOf(t), nil
}

// schemaOf returns the record.Schema of a record type.
func schemaOf(t *atype) record.Schema {
	return record.Schema{Fields: fieldsOf(t, make(map[*atype]bool))}
}

func fieldsOf(t *atype, active map[*atype]bool) []record.Field {
	active[t] = true
	defer delete(active, t)
	fs := make([]record.Field, len(t.fields))
	for i, f := range t.fields {
		fs[i] = record.Field{Name: f.name, Type: typeOf(f.typ, active)}
	}
	return fs
}

// typeOf maps an Avro type to a record.Type. A record already being
// converted (a recursive schema) becomes a map with unknown fields.
func typeOf(t *atype, active map[*atype]bool) record.Type {
	switch t.kind {
	case aNull:
		return record.Type{Kind: record.Null, Nullable: true}
	case aBoolean:
		return record.Type{Kind: record.Bool}
	case aInt, aLong:
		if t.logical.isTime() {
			return record.Type{Kind: record.Timestamp}
		}
		return record.Type{Kind: record.Int}
	case aFloat, aDouble:
		return record.Type{Kind: record.Float}
	case aBytes, aFixed:
		if t.logical == lDecimal {
			return record.Type{Kind: record.Float}
		}
		return record.Type{Kind: record.Bytes}
	case aString, aEnum:
		return record.Type{Kind: record.String}
	case aArray, aMap:
		k := record.Array
		if t.kind == aMap {
			k = record.Map
		}
		e := typeOf(t.elem, active)
		return record.Type{Kind: k, Elem: &e}
	case aRecord:
		if active[t] {
			return record.Type{Kind: record.Map}
		}
		return record.Type{Kind: record.Map, Fields: fieldsOf(t, active)}
	}
	// Union: null branches make it nullable; one other branch, or several
	// scalar branches of the same kind, give that type; otherwise Any.
	var out record.Type
	nullable, n := false, 0
	for _, b := range t.branches {
		if b.kind == aNull {
			nullable = true
			continue
		}
		bt := typeOf(b, active)
		switch {
		case n == 0:
			out = bt
		case out.Kind == bt.Kind && out.Elem == nil && bt.Elem == nil && out.Fields == nil && bt.Fields == nil:
		default:
			out = record.Type{Kind: record.Any}
		}
		n++
	}
	if n == 0 {
		return record.Type{Kind: record.Null, Nullable: true}
	}
	out.Nullable = nullable
	return out
}
