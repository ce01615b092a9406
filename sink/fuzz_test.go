package sink

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

// FuzzDecodeValue feeds arbitrary bytes to DecodeValue, as a hostile or
// corrupted Redis hash field would: it must not panic, must hold no more
// elements than the input has bytes (no allocation beyond the input), and
// whatever it decodes must encode and decode back to itself.
func FuzzDecodeValue(f *testing.F) {
	for _, v := range fuzzSeedValues() {
		b, err := AppendValue(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Hostile shapes: a length prefix far beyond the message, a packed
	// array whose length claims 2^31 bytes, a deep group, non-UTF-8.
	for _, raw := range [][]byte{
		{0x12, 0xff, 0xff, 0xff, 0xff, 0x07},             // string_value of length 2^31-1
		{0x62, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x00}, // float_array, packed length 2^32-1
		{0x72, 0x03, 0x0a, 0x80, 0x80},                   // int_array with a truncated varint
		{0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b}, // nested start-groups
		{0x12, 0x02, 0xff, 0xfe},                         // string_value, not UTF-8
	} {
		f.Add([]byte(base64.StdEncoding.EncodeToString(raw)))
	}
	f.Add([]byte("not base64!"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeValue(b)
		if err != nil {
			return
		}
		if n := elements(v); n > len(b) {
			t.Fatalf("%d bytes decoded to %d elements", len(b), n)
		}
		if v == nil {
			return
		}
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		again, err := DecodeValue(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoded %#v: %v", v, err)
		}
		if !sameValue(again, v) {
			t.Fatalf("round trip: %#v became %#v", v, again)
		}
	})
}

// FuzzValueRoundTrip builds a feature value of each kind from arbitrary
// bytes and checks AppendValue → DecodeValue gives it back, NaNs, empty
// arrays and non-UTF-8 strings included.
func FuzzValueRoundTrip(f *testing.F) {
	for kind := range byte(fuzzKinds) {
		f.Add(kind, []byte{})
		f.Add(kind, []byte("abcdefgh\x00\xff\xfe\x80 12345678"))
		f.Add(kind, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		v := valueFrom(kind, data)
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("AppendValue(%#v): %v", v, err)
		}
		// AppendValue into a buffer with a prefix keeps the prefix.
		pre, err := AppendValue([]byte("prefix"), v)
		if err != nil || string(pre) != "prefix"+string(enc) {
			t.Fatalf("AppendValue with a prefix: %q, %v; want prefix%q", pre, err, enc)
		}
		got, err := DecodeValue(enc)
		if err != nil {
			t.Fatalf("DecodeValue(AppendValue(%#v)): %v", v, err)
		}
		want := v
		if b, ok := v.([]byte); ok {
			want = [][]byte{b} // a BYTES feature reads back as a byte_array
		}
		if !sameValue(got, want) {
			t.Fatalf("round trip: %#v became %#v", want, got)
		}
	})
}

const fuzzKinds = 19

// valueFrom makes a feature value of kind (mod fuzzKinds) from data.
func valueFrom(kind byte, data []byte) any {
	u64 := func(i int) uint64 {
		var b [8]byte
		copy(b[:], data[min(i, len(data)):])
		return binary.LittleEndian.Uint64(b[:])
	}
	n8, n4 := len(data)/8, len(data)/4
	switch kind % fuzzKinds {
	case 0:
		return len(data)%2 == 1
	case 1:
		return string(data)
	case 2:
		return math.Float32frombits(uint32(u64(0)))
	case 3:
		return math.Float64frombits(u64(0))
	case 4:
		return int32(u64(0))
	case 5:
		return int64(u64(0))
	case 6:
		v := make([]bool, len(data))
		for i, c := range data {
			v[i] = c&1 == 1
		}
		return v
	case 7:
		v := make([]string, 0, len(data)/3)
		for i := 0; i+3 <= len(data); i += 3 {
			v = append(v, string(data[i:i+3]))
		}
		return v
	case 8:
		v := make([]float32, n4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return v
	case 9:
		v := make([]float64, n8)
		for i := range v {
			v[i] = math.Float64frombits(u64(8 * i))
		}
		return v
	case 10:
		v := make([]int32, n4)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return v
	case 11:
		v := make([]int64, n8)
		for i := range v {
			v[i] = int64(u64(8 * i))
		}
		return v
	case 12:
		return append([]byte{}, data...)
	case 13:
		v := [][]byte{}
		for i := 0; i < len(data); i += 5 {
			v = append(v, append([]byte{}, data[i:min(i+5, len(data))]...))
		}
		return v
	case 14:
		s := Sparse[int64]{Indices: []int32{}, Values: []int64{}}
		for i := 0; i < n8; i++ {
			s.Indices = append(s.Indices, int32(i*3))
			s.Values = append(s.Values, int64(u64(8*i)))
		}
		return s
	case 15:
		s := Sparse[string]{Indices: []int32{}, Values: []string{}}
		for i, c := range data {
			s.Indices = append(s.Indices, int32(c)-int32(i))
			s.Values = append(s.Values, string(data[i:]))
		}
		return s
	case 16:
		s := Sparse[float32]{Indices: []int32{}, Values: []float32{}}
		for i := 0; i < n4; i++ {
			s.Indices = append(s.Indices, int32(i))
			s.Values = append(s.Values, math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
		}
		return s
	case 17:
		s := Sparse[bool]{Indices: []int32{}, Values: []bool{}}
		for i, c := range data {
			s.Indices = append(s.Indices, int32(i))
			s.Values = append(s.Values, c > 127)
		}
		return s
	default:
		s := Sparse[float64]{Indices: []int32{}, Values: []float64{}}
		for i := 0; i < n8; i++ {
			s.Indices = append(s.Indices, -int32(i))
			s.Values = append(s.Values, math.Float64frombits(u64(8*i)))
		}
		return s
	}
}

// fuzzSeedValues are one value of each kind, for the seed corpus.
func fuzzSeedValues() []any {
	return []any{
		true, "x", "\xff\x00:#\n", float32(1.5), math.Inf(-1), int32(-7), int64(math.MaxInt64),
		[]bool{true, false}, []string{"a", ""}, []float32{1}, []float64{math.NaN()},
		[]int32{1, -1}, []int64{}, [][]byte{{0xff}, {}},
		Sparse[int32]{Indices: []int32{3}, Values: []int32{9}},
		Sparse[string]{Indices: []int32{0, 1}, Values: []string{"a", "b"}},
	}
}

// elements counts the scalars a decoded value holds.
func elements(v any) int {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return 0 // one value's bytes, bounded by the input anyway
		}
		n := rv.Len()
		for i := range n {
			n += elements(rv.Index(i).Interface())
		}
		return n
	case reflect.Struct:
		return rv.Field(0).Len() + rv.Field(1).Len()
	}
	return 0
}

// sameValue is reflect.DeepEqual with every float compared by its bits,
// so that NaN equals NaN.
func sameValue(a, b any) bool {
	return reflect.DeepEqual(floatBits(reflect.ValueOf(a)), floatBits(reflect.ValueOf(b)))
}

// floatBits returns v with each float replaced by its bit pattern.
func floatBits(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Float32:
		return math.Float32bits(float32(v.Float()))
	case reflect.Float64:
		return math.Float64bits(v.Float())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return append([]byte{}, v.Bytes()...)
		}
		out := []any{v.Type().String()}
		for i := range v.Len() {
			out = append(out, floatBits(v.Index(i)))
		}
		return out
	case reflect.Struct:
		return []any{v.Type().String(), floatBits(v.Field(0)), floatBits(v.Field(1))}
	}
	return v.Interface()
}
