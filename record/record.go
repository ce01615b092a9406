// Package record describes the shape and the values of one decoded event:
// the schema of a source's records and the record itself, as the decoders
// produce it and the transforms read it.
//
// record imports only the standard library; decode, transform, window,
// plan, pipeline and sandbox share it.
package record

import (
	"fmt"
	"strings"
)

// Kind is the kind of a field's value.
type Kind uint8

// The kinds of values a record holds. Each kind has one Go representation
// in a Record: see Record.
const (
	Any       Kind = iota // any value; type-checked only at run time
	Null                  // always null
	Bool                  // bool
	Int                   // int64 (Avro int and long)
	Float                 // float64 (Avro float and double)
	String                // string (also Avro enum)
	Bytes                 // []byte (also Avro fixed)
	Timestamp             // time.Time (Avro timestamp-* and date logical types)
	Array                 // []any
	Map                   // map[string]any (Avro map and nested record)
)

var kindNames = [...]string{"any", "null", "bool", "int", "float", "string", "bytes", "timestamp", "array", "map"}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Type is the type of a field: a kind, whether it may be null, and for
// arrays and maps the type of their elements (values, for maps).
type Type struct {
	Kind     Kind
	Nullable bool
	Elem     *Type   // Array and Map: element (value) type; nil means Any
	Fields   []Field // Map from a nested record: its fields, when known
}

// String returns a readable form such as "int", "array<float>" or "string?".
func (t Type) String() string {
	var b strings.Builder
	b.WriteString(t.Kind.String())
	if t.Kind == Array || t.Kind == Map {
		elem := "any"
		if t.Elem != nil {
			elem = t.Elem.String()
		}
		b.WriteString("<" + elem + ">")
	}
	if t.Nullable && t.Kind != Null {
		b.WriteString("?")
	}
	return b.String()
}

// Field is one named, typed field of a record.
type Field struct {
	Name string
	Type Type
}

// Schema is the ordered list of a record's top-level fields.
type Schema struct {
	Fields []Field
}

// Field returns the field with the given name.
func (s Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Record is one decoded event: top-level field name to value. Values are
// nil (null), bool, int64, float64, string, []byte, time.Time, []any or
// map[string]any, matching the field's Kind. Decoders normalise to these
// (an Avro int becomes int64, a union becomes its branch's value).
type Record map[string]any
