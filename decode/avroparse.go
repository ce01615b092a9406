package decode

import (
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// The Avro schema parser: parseAvro turns a schema's JSON into an atype
// graph (named types and namespaces, unions, records and their field
// defaults, enums, fixed and logical types), and goavro checks the schema
// too.

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
