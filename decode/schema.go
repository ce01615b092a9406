package decode

import (
	"strconv"
	"strings"

	"github.com/feathrgo/feathr/record"
	"github.com/linkedin/goavro/v2"
)

// akind is the kind of an Avro type.
type akind uint8

const (
	aNull akind = iota
	aBoolean
	aInt
	aLong
	aFloat
	aDouble
	aBytes
	aString
	aRecord
	aEnum
	aArray
	aMap
	aFixed
	aUnion
)

var akindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "fixed", "union"}

func (k akind) String() string { return akindNames[k] }

func primitiveKind(s string) (akind, bool) {
	switch s {
	case "null":
		return aNull, true
	case "boolean":
		return aBoolean, true
	case "int":
		return aInt, true
	case "long":
		return aLong, true
	case "float":
		return aFloat, true
	case "double":
		return aDouble, true
	case "bytes":
		return aBytes, true
	case "string":
		return aString, true
	}
	return 0, false
}

// logical is an Avro logical type this package interprets.
type logical uint8

const (
	lNone logical = iota
	lDate
	lTimeMillis
	lTimeMicros
	lTsMillis
	lTsMicros
	lTsNanos
	lDecimal
	lUUID
)

// isTime reports whether values of the logical type are time.Time.
func (l logical) isTime() bool { return l == lDate || (l >= lTsMillis && l <= lTsNanos) }

// atype is a parsed Avro type. Named types are shared by pointer, so a
// recursive schema is a cyclic graph.
type atype struct {
	kind     akind
	logical  logical
	scale    int // decimal
	size     int // fixed
	name     string
	aliases  []string
	fields   []*afield // record
	symbols  []string  // enum
	enumDef  int       // enum: index of the default symbol, or -1
	elem     *atype    // array items, map values
	branches []*atype  // union
	off      int       // offset of the type's definition in the schema text
}

type afield struct {
	name    string
	aliases []string
	typ     *atype
	def     any // normalised default value
	hasDef  bool
}

// nullIndex returns the index of the null branch of a union, or -1.
func (t *atype) nullIndex() int {
	for i, b := range t.branches {
		if b.kind == aNull {
			return i
		}
	}
	return -1
}

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

// parseAvro parses and validates an Avro schema with a record at the top.
func parseAvro(schemaJSON string) (*atype, error) {
	root, err := parseJSONTree(schemaJSON)
	if err != nil {
		return nil, err
	}
	sp := schemaParser{named: make(map[string]*atype)}
	t, err := sp.parse(root, "")
	if err != nil {
		return nil, err
	}
	if t.kind != aRecord {
		return nil, schemaErrorf(root.off, "top-level type must be a record, not %s", t.kind)
	}
	// goavro is the reference: accept nothing it rejects.
	if _, err := goavro.NewCodec(schemaJSON); err != nil {
		return nil, &SchemaError{Offset: -1, Msg: err.Error()}
	}
	return t, nil
}

type schemaParser struct {
	named map[string]*atype
}

func (sp *schemaParser) parse(n *jnode, ns string) (*atype, error) {
	switch n.kind {
	case 's':
		if k, ok := primitiveKind(n.s); ok {
			return &atype{kind: k, off: n.off}, nil
		}
		if t := sp.lookup(n.s, ns); t != nil {
			return t, nil
		}
		return nil, schemaErrorf(n.off, "unknown type %q", n.s)
	case 'a':
		return sp.union(n, ns)
	case 'o':
		return sp.object(n, ns)
	}
	return nil, schemaErrorf(n.off, "a type must be a string, object or array, not %s", n.describe())
}

func (sp *schemaParser) lookup(name, ns string) *atype {
	if ns != "" && !strings.Contains(name, ".") {
		if t := sp.named[ns+"."+name]; t != nil {
			return t
		}
	}
	return sp.named[name]
}

func (sp *schemaParser) union(n *jnode, ns string) (*atype, error) {
	t := &atype{kind: aUnion, off: n.off}
	seen := make(map[string]bool, len(n.arr))
	for _, bn := range n.arr {
		b, err := sp.parse(bn, ns)
		if err != nil {
			return nil, err
		}
		if b.kind == aUnion {
			return nil, schemaErrorf(bn.off, "a union may not directly contain a union")
		}
		key := b.kind.String()
		if b.kind == aRecord || b.kind == aEnum || b.kind == aFixed {
			key = b.name
		}
		if seen[key] {
			return nil, schemaErrorf(bn.off, "union contains %s twice", key)
		}
		seen[key] = true
		t.branches = append(t.branches, b)
	}
	if len(t.branches) == 0 {
		return nil, schemaErrorf(n.off, "empty union")
	}
	return t, nil
}

func (sp *schemaParser) object(n *jnode, ns string) (*atype, error) {
	tn := n.get("type")
	if tn == nil {
		return nil, schemaErrorf(n.off, `type object has no "type"`)
	}
	if tn.kind != 's' {
		return sp.parse(tn, ns)
	}
	var t *atype
	var err error
	switch tn.s {
	case "record", "error":
		return sp.record(n, ns)
	case "enum":
		return sp.enum(n, ns)
	case "fixed":
		t, err = sp.fixed(n, ns)
	case "array", "map":
		key := "items"
		t = &atype{kind: aArray, off: n.off}
		if tn.s == "map" {
			key, t.kind = "values", aMap
		}
		en := n.get(key)
		if en == nil {
			return nil, schemaErrorf(n.off, "%s has no %q", tn.s, key)
		}
		t.elem, err = sp.parse(en, ns)
		return t, err
	default:
		if k, ok := primitiveKind(tn.s); ok {
			t = &atype{kind: k, off: n.off}
		} else if t = sp.lookup(tn.s, ns); t == nil {
			return nil, schemaErrorf(tn.off, "unknown type %q", tn.s)
		} else {
			return t, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if err := applyLogical(t, n); err != nil {
		return nil, err
	}
	return t, nil
}

// applyLogical interprets a logicalType attribute. Unknown logical types,
// and known ones on the wrong underlying type, are ignored as the Avro
// specification requires.
func applyLogical(t *atype, n *jnode) error {
	ln := n.get("logicalType")
	if ln == nil || ln.kind != 's' {
		return nil
	}
	switch {
	case ln.s == "date" && t.kind == aInt:
		t.logical = lDate
	case ln.s == "time-millis" && t.kind == aInt:
		t.logical = lTimeMillis
	case ln.s == "time-micros" && t.kind == aLong:
		t.logical = lTimeMicros
	case (ln.s == "timestamp-millis" || ln.s == "local-timestamp-millis") && t.kind == aLong:
		t.logical = lTsMillis
	case (ln.s == "timestamp-micros" || ln.s == "local-timestamp-micros") && t.kind == aLong:
		t.logical = lTsMicros
	case (ln.s == "timestamp-nanos" || ln.s == "local-timestamp-nanos") && t.kind == aLong:
		t.logical = lTsNanos
	case ln.s == "uuid" && t.kind == aString:
		t.logical = lUUID
	case ln.s == "decimal" && (t.kind == aBytes || t.kind == aFixed):
		prec, err := intAttr(n, "precision", true)
		if err != nil {
			return err
		}
		scale, err := intAttr(n, "scale", false)
		if err != nil {
			return err
		}
		if prec < 1 || scale < 0 || scale > prec {
			return schemaErrorf(n.off, "decimal needs 1 <= precision and 0 <= scale <= precision, have precision %d, scale %d", prec, scale)
		}
		t.logical, t.scale = lDecimal, scale
	}
	return nil
}

func intAttr(n *jnode, key string, required bool) (int, error) {
	v := n.get(key)
	if v == nil {
		if required {
			return 0, schemaErrorf(n.off, "missing %q", key)
		}
		return 0, nil
	}
	if v.kind != 'f' {
		return 0, schemaErrorf(v.off, "%q must be an integer, not %s", key, v.describe())
	}
	i, err := strconv.Atoi(v.s)
	if err != nil {
		return 0, schemaErrorf(v.off, "%q must be an integer, not %s", key, v.s)
	}
	return i, nil
}

// define registers a named type and returns the namespace for its children.
func (sp *schemaParser) define(t *atype, n *jnode, ns string) (string, error) {
	nn := n.get("name")
	if nn == nil || nn.kind != 's' {
		return "", schemaErrorf(n.off, "named type has no string \"name\"")
	}
	name := nn.s
	if nsn := n.get("namespace"); nsn != nil && nsn.kind == 's' && !strings.Contains(name, ".") {
		ns = nsn.s
	}
	full := name
	if !strings.Contains(name, ".") && ns != "" {
		full = ns + "." + name
	}
	for _, part := range strings.Split(full, ".") {
		if !validName(part) {
			return "", schemaErrorf(nn.off, "invalid name %q", full)
		}
	}
	if _, ok := primitiveKind(full); ok {
		return "", schemaErrorf(nn.off, "name %q is a primitive type", full)
	}
	if sp.named[full] != nil {
		return "", schemaErrorf(nn.off, "type %q defined twice", full)
	}
	t.name = full
	sp.named[full] = t
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i], nil
	}
	return "", nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

func stringList(n *jnode, what string) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	if n.kind != 'a' {
		return nil, schemaErrorf(n.off, "%s must be an array of strings", what)
	}
	out := make([]string, len(n.arr))
	for i, e := range n.arr {
		if e.kind != 's' {
			return nil, schemaErrorf(e.off, "%s must be an array of strings", what)
		}
		out[i] = e.s
	}
	return out, nil
}

func (sp *schemaParser) record(n *jnode, ns string) (*atype, error) {
	t := &atype{kind: aRecord, off: n.off}
	cns, err := sp.define(t, n, ns)
	if err != nil {
		return nil, err
	}
	if t.aliases, err = stringList(n.get("aliases"), "aliases"); err != nil {
		return nil, err
	}
	fn := n.get("fields")
	if fn == nil || fn.kind != 'a' {
		return nil, schemaErrorf(n.off, "record %q has no \"fields\" array", t.name)
	}
	seen := make(map[string]bool, len(fn.arr))
	for _, f := range fn.arr {
		if f.kind != 'o' {
			return nil, schemaErrorf(f.off, "a field must be an object, not %s", f.describe())
		}
		nn := f.get("name")
		if nn == nil || nn.kind != 's' || !validName(nn.s) {
			return nil, schemaErrorf(f.off, "field has no valid \"name\"")
		}
		if seen[nn.s] {
			return nil, schemaErrorf(nn.off, "field %q defined twice", nn.s)
		}
		seen[nn.s] = true
		tn := f.get("type")
		if tn == nil {
			return nil, schemaErrorf(f.off, "field %q has no \"type\"", nn.s)
		}
		ft, err := sp.parse(tn, cns)
		if err != nil {
			return nil, err
		}
		af := &afield{name: nn.s, typ: ft}
		if af.aliases, err = stringList(f.get("aliases"), "aliases"); err != nil {
			return nil, err
		}
		if dn := f.get("default"); dn != nil {
			if af.def, err = defaultValue(dn, ft); err != nil {
				return nil, err
			}
			af.hasDef = true
		}
		t.fields = append(t.fields, af)
	}
	return t, nil
}

func (sp *schemaParser) enum(n *jnode, ns string) (*atype, error) {
	t := &atype{kind: aEnum, off: n.off, enumDef: -1}
	if _, err := sp.define(t, n, ns); err != nil {
		return nil, err
	}
	syms, err := stringList(n.get("symbols"), "symbols")
	if err != nil {
		return nil, err
	}
	if syms == nil {
		return nil, schemaErrorf(n.off, "enum %q has no \"symbols\"", t.name)
	}
	seen := make(map[string]bool, len(syms))
	for _, s := range syms {
		if !validName(s) || seen[s] {
			return nil, schemaErrorf(n.get("symbols").off, "enum %q: invalid or duplicate symbol %q", t.name, s)
		}
		seen[s] = true
	}
	t.symbols = syms
	if dn := n.get("default"); dn != nil {
		if dn.kind != 's' || !seen[dn.s] {
			return nil, schemaErrorf(dn.off, "enum %q: default must be one of its symbols", t.name)
		}
		t.enumDef = symbolIndex(syms, dn.s)
	}
	return t, nil
}

func symbolIndex(syms []string, s string) int {
	for i, x := range syms {
		if x == s {
			return i
		}
	}
	return -1
}

func (sp *schemaParser) fixed(n *jnode, ns string) (*atype, error) {
	t := &atype{kind: aFixed, off: n.off}
	if _, err := sp.define(t, n, ns); err != nil {
		return nil, err
	}
	size, err := intAttr(n, "size", true)
	if err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, schemaErrorf(n.get("size").off, "fixed %q: negative size", t.name)
	}
	t.size = size
	return t, nil
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
