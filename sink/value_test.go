package sink

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/sink/featurepb"
)

// Expected encodings worked out by hand from the protobuf wire format,
// independently of the writer.
func TestAppendValueHandEncoded(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string // base64 when b64, else hex of the protobuf bytes
		b64  bool
	}{
		{"int 3", int32(3), "KAM=", true},                       // 28 03
		{"bool true", true, "CAE=", true},                       // 08 01
		{"long 300", int64(300), "MKwC", true},                  // 30 ac 02
		{"double 1.5", 1.5, "IQAAAAAAAPg/", true},               // 21 + LE 0x3ff8000000000000
		{"string hi", "hi", "EgJoaQ==", true},                   // 12 02 'h' 'i'
		{"float 1", float32(1), "1d0000803f", false},            // 0x1d = 3<<3|5
		{"int -1", int32(-1), "28ffffffffffffffffff01", false},  // sign-extended 10-byte varint
		{"long -2", int64(-2), "30feffffffffffffffff01", false}, //
		{"empty string", "", "1200", false},                     //
		{"bool false", false, "0800", false},                    //
		{"float_array [1 2]", []float32{1, 2}, "620a" + "0d0000803f" + "0d00000040", false},
		{"double_array [1]", []float64{1}, "6a09" + "09000000000000f03f", false},
		{"int_array [1 300]", []int32{1, 300}, "7205" + "0801" + "08ac02", false},
		{"long_array [5]", []int64{5}, "7a02" + "0805", false},
		{"bool_array [true false]", []bool{true, false}, "5204" + "0801" + "0800", false},
		{"string_array [a bc]", []string{"a", "bc"}, "5a07" + "0a0161" + "0a026263", false},
		{"empty float_array", []float32{}, "6200", false},
		{"bytes", []byte{0xff, 0}, "8201" + "04" + "0a02ff00", false}, // tag 16 → 0x82 0x01
		{"sparse_long", Sparse[int64]{Indices: []int32{2}, Values: []int64{7}}, "ba01" + "04" + "0802" + "1007", false},
		{"sparse_float", Sparse[float32]{Indices: []int32{0}, Values: []float32{1}}, "ca01" + "07" + "0800" + "150000803f", false},
	}
	for _, tt := range tests {
		got, err := AppendValue(nil, tt.v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := tt.want
		if !tt.b64 {
			raw, err := hex.DecodeString(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			want = base64.StdEncoding.EncodeToString(raw)
		}
		if string(got) != want {
			t.Errorf("%s: AppendValue = %s, want %s", tt.name, got, want)
		}
	}
}

// allValues holds one value of every type AppendValue takes.
var allValues = []any{
	true, false, int32(0), int32(-7), int32(math.MaxInt32), int64(math.MinInt64), int64(1 << 40),
	float32(3.25), float32(math.Inf(-1)), 2.5, -0.0, "", "héllo",
	[]bool{true, false, true}, []int32{1, -1, 300}, []int64{-5, 1 << 50}, []float32{0.5, -2},
	[]float64{1e300, 0}, []string{"", "a", strings.Repeat("x", 300)},
	[]float32{}, []string{},
	[][]byte{{1, 2}, {}},
	Sparse[string]{[]int32{1, 5}, []string{"a", "b"}},
	Sparse[bool]{[]int32{3}, []bool{true}},
	Sparse[int32]{[]int32{0, 9}, []int32{-1, 2}},
	Sparse[int64]{[]int32{4}, []int64{1 << 40}},
	Sparse[float64]{[]int32{7}, []float64{0.25}},
	Sparse[float32]{[]int32{7, 8}, []float32{0.25, 4}},
}

func TestValueRoundTrip(t *testing.T) {
	for _, v := range allValues {
		b, err := AppendValue([]byte("prefix"), v)
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("%T: prefix clobbered: %q", v, b)
		}
		got, err := DecodeValue(b[len("prefix"):])
		if err != nil {
			t.Fatalf("%T %v: decode: %v", v, v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip %T: got %#v, want %#v", v, got, v)
		}
	}
	// A BYTES feature reads back as a one-element byte_array.
	b, _ := AppendValue(nil, []byte("abc"))
	got, err := DecodeValue(b)
	if err != nil || !reflect.DeepEqual(got, [][]byte{[]byte("abc")}) {
		t.Errorf("bytes round trip = %#v, %v", got, err)
	}
}

// The hand encoder matches the generated code's (unpacked) serialization.
func TestAppendValueMatchesGenerated(t *testing.T) {
	for _, v := range allValues {
		b, err := AppendValue(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(string(b))
		var fv featurepb.FeatureValue
		if err := proto.Unmarshal(raw, &fv); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&fv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, raw) {
			t.Errorf("%T: hand %x, generated %x", v, raw, again)
		}
	}
}

func TestDecodePacked(t *testing.T) {
	tests := []struct {
		hex  string
		want any
	}{
		{"620a" + "0a08" + "0000803f" + "00000040", []float32{1, 2}}, // float_array packed
		{"7206" + "0a04" + "01" + "ac02" + "02", []int32{1, 300, 2}},
		{"7a04" + "0a02" + "0506", []int64{5, 6}},
		{"5204" + "0a02" + "0100", []bool{true, false}},
		{"6a0a" + "0a08" + "000000000000f03f", []float64{1}},
		// sparse_integer_array, both fields packed
		{"b20108" + "0a02" + "0103" + "1202" + "0702", Sparse[int32]{[]int32{1, 3}, []int32{7, 2}}},
	}
	for _, tt := range tests {
		raw, err := hex.DecodeString(tt.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeValue([]byte(base64.StdEncoding.EncodeToString(raw)))
		if err != nil {
			t.Fatalf("%s: %v", tt.hex, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.hex, got, tt.want)
		}
	}
}

func TestDecodeValueErrors(t *testing.T) {
	if _, err := DecodeValue([]byte("not base64!")); err == nil {
		t.Error("bad base64: no error")
	}
	if _, err := DecodeValue([]byte(base64.StdEncoding.EncodeToString([]byte{0x62, 0x05, 0x0d}))); err == nil {
		t.Error("truncated protobuf: no error")
	}
	if v, err := DecodeValue(nil); err != nil || v != nil {
		t.Errorf("empty message = %v, %v; want nil, nil", v, err)
	}
	if _, err := AppendValue(nil, 3); err == nil {
		t.Error("AppendValue(int): no error")
	}
}

func TestAppendValueNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 4096)
	vec := make([]float32, 128)
	for _, v := range []any{int64(12345), "some string", vec} {
		n := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = AppendValue(buf[:0], v)
			if err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%T: %v allocs per AppendValue", v, n)
		}
	}
}

func BenchmarkAppendValue(b *testing.B) {
	cases := []struct {
		name string
		v    any
	}{
		{"int64", int64(1234567)},
		{"double", 3.14159},
		{"string", "a feature value string"},
		{"float_array_128", make([]float32, 128)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendValue(buf[:0], c.v)
			}
		})
	}
}

// FuzzDecodeScalar checks that the scalar fast path of DecodeValue decodes
// exactly what proto.Unmarshal does, for any bytes it accepts.
func FuzzDecodeScalar(f *testing.F) {
	for _, v := range []any{true, false, "", "héllo", "\xff", float32(1.5), math.Inf(-1), int32(-7), int32(1 << 30), int64(-1), int64(math.MaxInt64)} {
		b, err := AppendValue(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(string(b))
		f.Add(raw)
	}
	for _, raw := range [][]byte{
		{0x08, 0x02},       // bool 2
		{0x08, 0x80, 0x00}, // bool with a non-minimal varint
		{0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // int32 from 10 bytes
		{0x28, 0x01, 0x28, 0x02}, // the same field twice: the last wins
		{0x08, 0x01, 0x30, 0x05}, // two fields of the oneof
		{0x1d, 0x00, 0x00},       // truncated float
		{0x12, 0x05, 'a'},        // truncated string
		{0x10, 0x01},             // string_value with the varint wire type
		{0x38, 0x01},             // unknown field 7
		{},
	} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := decodeScalar(raw)
		if !ok {
			return
		}
		want, err := decodeFull([]byte(base64.StdEncoding.EncodeToString(raw)))
		if err != nil {
			t.Fatalf("decodeScalar(%x) = %#v, but proto.Unmarshal fails: %v", raw, got, err)
		}
		if !reflect.DeepEqual(got, want) && !(isNaN(got) && isNaN(want)) {
			t.Fatalf("decodeScalar(%x) = %#v, proto.Unmarshal gives %#v", raw, got, want)
		}
	})
}

func isNaN(v any) bool {
	switch v := v.(type) {
	case float32:
		return v != v
	case float64:
		return v != v
	}
	return false
}

// TestAppendScalar checks that a Scalar encodes byte for byte as
// AppendValue encodes the same value boxed, without allocating.
func TestAppendScalar(t *testing.T) {
	var scalars []feature.Scalar
	for _, c := range []struct {
		v any
		t feature.Type
	}{
		{true, feature.Boolean}, {false, feature.Boolean}, {int64(0), feature.Int32}, {int64(-1), feature.Int32},
		{int64(math.MaxInt32), feature.Int32}, {int64(math.MinInt64), feature.Int64}, {int64(1 << 40), feature.Int64},
		{3.5, feature.Float}, {math.Inf(-1), feature.Float}, {math.Copysign(0, -1), feature.Double}, {math.NaN(), feature.Double},
		{"", feature.String}, {"Seattle ☂", feature.String}, {[]byte{0, 1, 255}, feature.Bytes}, {"as bytes", feature.Bytes},
	} {
		s, ok, err := feature.ScalarOf(c.v, c.t)
		if err != nil || !ok {
			t.Fatalf("ScalarOf(%#v, %v) = %v, %v", c.v, c.t, ok, err)
		}
		scalars = append(scalars, s)
	}
	buf := make([]byte, 0, 256)
	for _, s := range scalars {
		want, err := AppendValue(nil, s.Any())
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendScalar(buf[:0], s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendScalar(%v %#v) = %q, %v; want %q", s.Type, s.Any(), got, err, want)
		}
		if n := testing.AllocsPerRun(100, func() { buf, _ = AppendScalar(buf[:0], s) }); n != 0 {
			t.Errorf("AppendScalar(%v) allocates %v times", s.Type, n)
		}
	}
	if _, err := AppendScalar(nil, feature.Scalar{}); err == nil {
		t.Error("AppendScalar of a Scalar without a type did not fail")
	}
}
