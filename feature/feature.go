// Package feature holds Feathr's feature and key value types: their names
// as a user writes them, and the conversion of a transform's result to the
// declared type.
//
// feature imports only the standard library; config, transform, window,
// plan and sink share it (and internal/aggtest).
package feature

import (
	"fmt"
	"strings"
)

// Type is a feature's declared value type, as in Feathr.
type Type uint8

// Feathr's feature types.
const (
	Boolean Type = iota + 1
	Int32
	Int64
	Float
	Double
	String
	Bytes
	FloatVector
	Int32Vector
	Int64Vector
	DoubleVector
)

var typeNames = map[Type]string{
	Boolean: "BOOLEAN", Int32: "INT32", Int64: "INT64", Float: "FLOAT", Double: "DOUBLE",
	String: "STRING", Bytes: "BYTES", FloatVector: "FLOAT_VECTOR", Int32Vector: "INT32_VECTOR",
	Int64Vector: "INT64_VECTOR", DoubleVector: "DOUBLE_VECTOR",
}

// Types lists every feature type in declaration order.
func Types() []Type {
	return []Type{Boolean, Int32, Int64, Float, Double, String, Bytes, FloatVector, Int32Vector, Int64Vector, DoubleVector}
}

// String returns the type's name as Feathr spells it, e.g. "INT32".
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// IsVector reports whether t is one of the *_VECTOR types.
func (t Type) IsVector() bool { return t >= FloatVector && t <= DoubleVector }

// ParseType parses a feature type name such as "INT32" (case-insensitive).
func ParseType(s string) (Type, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for t, name := range typeNames {
		if name == u {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown feature type %q (want one of %s)", s, typeList())
}

func typeList() string {
	var names []string
	for _, t := range Types() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// KeyType is the type of an entity key column, as Feathr's ValueType.
type KeyType uint8

// Feathr's key value types.
const (
	KeyBool KeyType = iota + 1
	KeyInt32
	KeyInt64
	KeyFloat
	KeyDouble
	KeyString
	KeyBytes
)

var keyTypeNames = []string{KeyBool: "BOOL", KeyInt32: "INT32", KeyInt64: "INT64", KeyFloat: "FLOAT",
	KeyDouble: "DOUBLE", KeyString: "STRING", KeyBytes: "BYTES"}

// String returns the key type's name, e.g. "INT64".
func (t KeyType) String() string {
	if int(t) > 0 && int(t) < len(keyTypeNames) {
		return keyTypeNames[t]
	}
	return fmt.Sprintf("KeyType(%d)", uint8(t))
}

// ParseKeyType parses a key type name such as "INT64" (case-insensitive).
func ParseKeyType(s string) (KeyType, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for i, name := range keyTypeNames {
		if i > 0 && name == u {
			return KeyType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown key type %q (want one of %s)", s, strings.Join(keyTypeNames[1:], ", "))
}
