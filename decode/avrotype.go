package decode

// The parsed form of an Avro schema, which the decoders compile from: the
// kinds of Avro types, the logical types this package interprets, and
// atype, a graph of types in which named types are shared.

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
