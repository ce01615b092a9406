package sink

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/sink/featurepb"
)

// FeatureValue field numbers (see featurepb/feature_value.proto).
const (
	tagBool        = 1
	tagString      = 2
	tagFloat       = 3
	tagDouble      = 4
	tagInt         = 5
	tagLong        = 6
	tagBoolArray   = 10
	tagStringArray = 11
	tagFloatArray  = 12
	tagDoubleArray = 13
	tagIntArray    = 14
	tagLongArray   = 15
	tagBytesArray  = 16
	tagSparseStr   = 20
	tagSparseBool  = 21
	tagSparseInt   = 22
	tagSparseLong  = 23
	tagSparseDbl   = 24
	tagSparseFloat = 25
)

// Sparse is a sparse array, Feathr's Sparse*Array messages: the element at
// index Indices[i] is Values[i]; every other element is the zero value.
// DecodeValue returns sparse arrays as Sparse[string], Sparse[bool],
// Sparse[int32], Sparse[int64], Sparse[float64] or Sparse[float32], and
// AppendValue accepts the same types.
type Sparse[T any] struct {
	Indices []int32
	Values  []T
}

// AppendValue appends to dst the standard padded base64 of the serialized
// FeatureValue protobuf that holds v, the form Feathr stores in a Redis hash
// field, and returns the extended buffer.
//
// v is one of the canonical Go values of a feature:
//
//	bool      boolean_value     []bool     boolean_array
//	int32     int_value         []int32    int_array
//	int64     long_value        []int64    long_array
//	float32   float_value       []float32  float_array
//	float64   double_value      []float64  double_array
//	string    string_value      []string   string_array
//	[]byte    byte_array (one element)     [][]byte  byte_array
//	Sparse[T] sparse_*_array
//
// FeatureValue has no scalar bytes field; a BYTES feature is written as a
// byte_array holding one element, which is what Feathr's readers return
// for it (a list of byte strings). Repeated fields are written unpacked,
// as Feathr's writer does. AppendValue does not allocate when dst has room
// for the result.
func AppendValue(dst []byte, v any) ([]byte, error) {
	start := len(dst)
	dst, err := appendProto(dst, v)
	if err != nil {
		return dst[:start], err
	}
	return base64InPlace(dst, start), nil
}

// base64InPlace replaces dst[start:] with its standard padded base64
// encoding, without a second buffer: it moves the raw bytes to the end of
// the encoded region and encodes forward; the writer never passes the
// reader, because the raw bytes start at least len/3 bytes ahead.
func base64InPlace(dst []byte, start int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	n := len(dst) - start
	enc := base64.StdEncoding.EncodedLen(n)
	dst = growLen(dst, enc-n)
	off := start + enc - n
	copy(dst[off:], dst[start:start+n])
	r, w := off, start
	for end := off + n - n%3; r < end; r += 3 {
		b0, b1, b2 := dst[r], dst[r+1], dst[r+2]
		dst[w] = alphabet[b0>>2]
		dst[w+1] = alphabet[(b0&3)<<4|b1>>4]
		dst[w+2] = alphabet[(b1&15)<<2|b2>>6]
		dst[w+3] = alphabet[b2&63]
		w += 4
	}
	switch n % 3 {
	case 1:
		b0 := dst[r]
		dst[w] = alphabet[b0>>2]
		dst[w+1] = alphabet[(b0&3)<<4]
		dst[w+2], dst[w+3] = '=', '='
	case 2:
		b0, b1 := dst[r], dst[r+1]
		dst[w] = alphabet[b0>>2]
		dst[w+1] = alphabet[(b0&3)<<4|b1>>4]
		dst[w+2] = alphabet[(b1&15)<<2]
		dst[w+3] = '='
	}
	return dst
}

// growLen extends b by n bytes (of unspecified content).
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	return append(b, make([]byte, n)...)
}

// AppendScalar appends v as AppendValue appends v.Any(), without boxing
// it: a transform's scalar result costs no allocation on its way to Redis.
func AppendScalar(dst []byte, v feature.Scalar) ([]byte, error) {
	start := len(dst)
	dst, err := appendScalarProto(dst, v)
	if err != nil {
		return dst[:start], err
	}
	return base64InPlace(dst, start), nil
}

// appendScalarProto appends the serialized FeatureValue holding v.
func appendScalarProto(b []byte, v feature.Scalar) ([]byte, error) {
	switch v.Type {
	case feature.Boolean:
		return appendBoolValue(b, v.Bool()), nil
	case feature.String:
		return appendStringValue(b, v.Str()), nil
	case feature.Float:
		return appendFloatValue(b, v.Float32()), nil
	case feature.Double:
		return appendDoubleValue(b, v.Float64()), nil
	case feature.Int32:
		return appendIntValue(b, tagInt, v.Int64()), nil
	case feature.Int64:
		return appendIntValue(b, tagLong, v.Int64()), nil
	case feature.Bytes:
		return appendBytesValue(b, v.Bytes()), nil
	}
	return b, fmt.Errorf("sink: cannot encode a scalar of type %v", v.Type)
}

func appendBoolValue(b []byte, v bool) []byte {
	b = protowire.AppendTag(b, tagBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

func appendStringValue(b []byte, v string) []byte {
	b = protowire.AppendTag(b, tagString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendFloatValue(b []byte, v float32) []byte {
	b = protowire.AppendTag(b, tagFloat, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func appendDoubleValue(b []byte, v float64) []byte {
	b = protowire.AppendTag(b, tagDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// appendIntValue appends int_value (tagInt) or long_value (tagLong).
func appendIntValue(b []byte, tag protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, tag, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendBytesValue appends a byte_array of one element: FeatureValue has
// no scalar bytes field.
func appendBytesValue(b []byte, v []byte) []byte {
	b = appendHeader(b, tagBytesArray, 1+protowire.SizeBytes(len(v)))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendProto appends the serialized FeatureValue holding v.
func appendProto(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case bool:
		return appendBoolValue(b, v), nil
	case string:
		return appendStringValue(b, v), nil
	case float32:
		return appendFloatValue(b, v), nil
	case float64:
		return appendDoubleValue(b, v), nil
	case int32:
		return appendIntValue(b, tagInt, int64(v)), nil
	case int64:
		return appendIntValue(b, tagLong, v), nil
	case []bool:
		b = appendHeader(b, tagBoolArray, len(v)*2)
		return appendBools(b, 1, v), nil
	case []string:
		b = appendHeader(b, tagStringArray, sizeStrings(1, v))
		return appendStrings(b, 1, v), nil
	case []float32:
		b = appendHeader(b, tagFloatArray, len(v)*5)
		return appendFloats(b, 1, v), nil
	case []float64:
		b = appendHeader(b, tagDoubleArray, len(v)*9)
		return appendDoubles(b, 1, v), nil
	case []int32:
		b = appendHeader(b, tagIntArray, sizeInts(1, v))
		return appendInts(b, 1, v), nil
	case []int64:
		b = appendHeader(b, tagLongArray, sizeLongs(1, v))
		return appendLongs(b, 1, v), nil
	case []byte:
		return appendBytesValue(b, v), nil
	case [][]byte:
		n := 0
		for _, e := range v {
			n += 1 + protowire.SizeBytes(len(e))
		}
		b = appendHeader(b, tagBytesArray, n)
		for _, e := range v {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendBytes(b, e)
		}
		return b, nil
	case Sparse[string]:
		b = appendHeader(b, tagSparseStr, sizeInts(1, v.Indices)+sizeStrings(2, v.Values))
		return appendStrings(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case Sparse[bool]:
		b = appendHeader(b, tagSparseBool, sizeInts(1, v.Indices)+2*len(v.Values))
		return appendBools(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case Sparse[int32]:
		b = appendHeader(b, tagSparseInt, sizeInts(1, v.Indices)+sizeInts(2, v.Values))
		return appendInts(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case Sparse[int64]:
		b = appendHeader(b, tagSparseLong, sizeInts(1, v.Indices)+sizeLongs(2, v.Values))
		return appendLongs(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case Sparse[float64]:
		b = appendHeader(b, tagSparseDbl, sizeInts(1, v.Indices)+9*len(v.Values))
		return appendDoubles(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case Sparse[float32]:
		b = appendHeader(b, tagSparseFloat, sizeInts(1, v.Indices)+5*len(v.Values))
		return appendFloats(appendInts(b, 1, v.Indices), 2, v.Values), nil
	case nil:
		return b, fmt.Errorf("sink: cannot encode a null feature value")
	default:
		return b, fmt.Errorf("sink: cannot encode a feature value of type %T", v)
	}
}

// appendHeader appends the tag and length of an embedded message.
func appendHeader(b []byte, num protowire.Number, size int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(size))
}

// The repeated-field writers below emit one tag per element (unpacked) and
// assume num < 16, so that a tag takes one byte.

func appendBools(b []byte, num protowire.Number, v []bool) []byte {
	for _, e := range v {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(e))
	}
	return b
}

func appendStrings(b []byte, num protowire.Number, v []string) []byte {
	for _, e := range v {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, e)
	}
	return b
}

func sizeStrings(num protowire.Number, v []string) int {
	n := 0
	for _, e := range v {
		n += protowire.SizeTag(num) + protowire.SizeBytes(len(e))
	}
	return n
}

func appendFloats(b []byte, num protowire.Number, v []float32) []byte {
	tag := byte(protowire.EncodeTag(num, protowire.Fixed32Type))
	i := len(b)
	b = growLen(b, 5*len(v))
	for _, e := range v {
		b[i] = tag
		binary.LittleEndian.PutUint32(b[i+1:], math.Float32bits(e))
		i += 5
	}
	return b
}

func appendDoubles(b []byte, num protowire.Number, v []float64) []byte {
	tag := byte(protowire.EncodeTag(num, protowire.Fixed64Type))
	i := len(b)
	b = growLen(b, 9*len(v))
	for _, e := range v {
		b[i] = tag
		binary.LittleEndian.PutUint64(b[i+1:], math.Float64bits(e))
		i += 9
	}
	return b
}

func appendInts(b []byte, num protowire.Number, v []int32) []byte {
	for _, e := range v {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(e)))
	}
	return b
}

func sizeInts(num protowire.Number, v []int32) int {
	n := 0
	for _, e := range v {
		n += protowire.SizeTag(num) + protowire.SizeVarint(uint64(int64(e)))
	}
	return n
}

func appendLongs(b []byte, num protowire.Number, v []int64) []byte {
	for _, e := range v {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e))
	}
	return b
}

func sizeLongs(num protowire.Number, v []int64) int {
	n := 0
	for _, e := range v {
		n += protowire.SizeTag(num) + protowire.SizeVarint(uint64(e))
	}
	return n
}

// DecodeValue parses a stored feature value: standard padded base64 of a
// serialized FeatureValue, with repeated fields packed or unpacked. It
// returns the canonical Go value AppendValue takes, with two differences:
// a byte_array (a BYTES feature) is returned as [][]byte, and a
// FeatureValue with no field set is returned as nil. Empty arrays are
// returned as empty, non-nil slices.
func DecodeValue(b64 []byte) (any, error) {
	// Most features are scalars of a few bytes: decode those from a stack
	// buffer without the reflective protobuf machinery.
	if len(b64) <= scalarB64Max {
		var buf [scalarB64Max / 4 * 3]byte
		n, err := base64.StdEncoding.Decode(buf[:], b64)
		if err != nil {
			return nil, fmt.Errorf("sink: decode feature value: base64: %w", err)
		}
		if v, ok := decodeScalar(buf[:n]); ok {
			return v, nil
		}
	}
	return decodeFull(b64)
}

// decodeFull is DecodeValue through proto.Unmarshal, for any FeatureValue.
func decodeFull(b64 []byte) (any, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(raw, b64)
	if err != nil {
		return nil, fmt.Errorf("sink: decode feature value: base64: %w", err)
	}
	var fv featurepb.FeatureValue
	if err := proto.Unmarshal(raw[:n], &fv); err != nil {
		return nil, fmt.Errorf("sink: decode feature value: %w", err)
	}
	return fromProto(&fv), nil
}

// scalarB64Max is the longest base64 value DecodeValue tries as a scalar
// before it falls back to proto.Unmarshal.
const scalarB64Max = 64

// decodeScalar decodes raw when it is exactly one scalar field of a
// FeatureValue (boolean, string, float, double, int or long), as
// proto.Unmarshal followed by fromProto would; it reports false for
// anything else, which the caller then parses in full.
func decodeScalar(raw []byte) (any, bool) {
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 {
		return nil, false
	}
	raw = raw[n:]
	switch {
	case num == tagBool && typ == protowire.VarintType:
		if v, m := protowire.ConsumeVarint(raw); m == len(raw) {
			return protowire.DecodeBool(v), true
		}
	case num == tagString && typ == protowire.BytesType:
		if v, m := protowire.ConsumeBytes(raw); m == len(raw) {
			return string(v), true
		}
	case num == tagFloat && typ == protowire.Fixed32Type:
		if v, m := protowire.ConsumeFixed32(raw); m == len(raw) {
			return math.Float32frombits(v), true
		}
	case num == tagDouble && typ == protowire.Fixed64Type:
		if v, m := protowire.ConsumeFixed64(raw); m == len(raw) {
			return math.Float64frombits(v), true
		}
	case num == tagInt && typ == protowire.VarintType:
		if v, m := protowire.ConsumeVarint(raw); m == len(raw) {
			return int32(v), true
		}
	case num == tagLong && typ == protowire.VarintType:
		if v, m := protowire.ConsumeVarint(raw); m == len(raw) {
			return int64(v), true
		}
	}
	return nil, false
}

// fromProto converts a parsed FeatureValue to its canonical Go value.
func fromProto(fv *featurepb.FeatureValue) any {
	switch v := fv.GetFeatureValueOneOf().(type) {
	case *featurepb.FeatureValue_BooleanValue:
		return v.BooleanValue
	case *featurepb.FeatureValue_StringValue:
		return v.StringValue
	case *featurepb.FeatureValue_FloatValue:
		return v.FloatValue
	case *featurepb.FeatureValue_DoubleValue:
		return v.DoubleValue
	case *featurepb.FeatureValue_IntValue:
		return v.IntValue
	case *featurepb.FeatureValue_LongValue:
		return v.LongValue
	case *featurepb.FeatureValue_BooleanArray:
		return nonNil(v.BooleanArray.GetBooleans())
	case *featurepb.FeatureValue_StringArray:
		return nonNil(v.StringArray.GetStrings())
	case *featurepb.FeatureValue_FloatArray:
		return nonNil(v.FloatArray.GetFloats())
	case *featurepb.FeatureValue_DoubleArray:
		return nonNil(v.DoubleArray.GetDoubles())
	case *featurepb.FeatureValue_IntArray:
		return nonNil(v.IntArray.GetIntegers())
	case *featurepb.FeatureValue_LongArray:
		return nonNil(v.LongArray.GetLongs())
	case *featurepb.FeatureValue_ByteArray:
		return nonNil(v.ByteArray.GetBytes())
	case *featurepb.FeatureValue_SparseStringArray:
		return Sparse[string]{nonNil(v.SparseStringArray.GetIndexIntegers()), nonNil(v.SparseStringArray.GetValueStrings())}
	case *featurepb.FeatureValue_SparseBoolArray:
		return Sparse[bool]{nonNil(v.SparseBoolArray.GetIndexIntegers()), nonNil(v.SparseBoolArray.GetValueBooleans())}
	case *featurepb.FeatureValue_SparseIntegerArray:
		return Sparse[int32]{nonNil(v.SparseIntegerArray.GetIndexIntegers()), nonNil(v.SparseIntegerArray.GetValueIntegers())}
	case *featurepb.FeatureValue_SparseLongArray:
		return Sparse[int64]{nonNil(v.SparseLongArray.GetIndexIntegers()), nonNil(v.SparseLongArray.GetValueLongs())}
	case *featurepb.FeatureValue_SparseDoubleArray:
		return Sparse[float64]{nonNil(v.SparseDoubleArray.GetIndexIntegers()), nonNil(v.SparseDoubleArray.GetValueDoubles())}
	case *featurepb.FeatureValue_SparseFloatArray:
		return Sparse[float32]{nonNil(v.SparseFloatArray.GetIndexIntegers()), nonNil(v.SparseFloatArray.GetValueFloats())}
	default:
		return nil
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
