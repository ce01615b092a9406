package cmd

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/sink"
)

// TestAppendJSONValue checks the hand-written JSON of feature values
// against encoding/json, which get printed them with before.
func TestAppendJSONValue(t *testing.T) {
	values := []any{
		nil, true, false,
		int32(0), int32(-1), int32(math.MaxInt32), int32(math.MinInt32),
		int64(0), int64(math.MaxInt64), int64(math.MinInt64),
		0.0, math.Copysign(0, -1), 1.0, -2.5, 0.1, 1.0 / 3, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789e13, math.MaxFloat64, math.SmallestNonzeroFloat64,
		float32(0), float32(0.1), float32(1.0 / 3), float32(1e-6), float32(9.99e-7), float32(1e-7), float32(1e20), float32(1e21), float32(math.MaxFloat32), float32(-3.25),
		"", "plain", "with space", `quote"`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline", "\x00\x1f\x7f", "héllo", "\u2028\u2029", "bad \xff utf-8",
		[]int64{1, 2}, []float32{}, []string{"a<"}, [][]byte{[]byte("x")}, sink.Sparse[float64]{Indices: []int32{1}, Values: []float64{0.5}},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSONValue([]byte("prefix"), v)
		if err != nil || string(got) != "prefix"+string(want) {
			t.Errorf("appendJSONValue(%#v) = %q, %v; want prefix%s", v, got, err, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1))} {
		_, want := json.Marshal(v)
		if _, err := appendJSONValue(nil, v); err == nil || err.Error() != want.Error() {
			t.Errorf("appendJSONValue(%v) error %v, want %v", v, err, want)
		}
	}
}

// TestAppendJSONValueRandom compares appendJSONValue with json.Marshal on
// random floats of both widths (all exponents, NaN and infinities
// included) and random strings of ASCII, control and multi-byte runes and
// invalid UTF-8.
func TestAppendJSONValueRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", "0", " ", "\"", "\\", "<", ">", "&", "\n", "\x00", "\x7f", "é", "\u2028", "\U0001F600", "\xff", "\xc3"}
	for range 20_000 {
		var s []byte
		for range r.IntN(6) {
			s = append(s, pieces[r.IntN(len(pieces))]...)
		}
		for _, v := range []any{string(s), math.Float64frombits(r.Uint64()), math.Float32frombits(r.Uint32()), r.NormFloat64() * math.Pow(10, float64(r.IntN(50)-25))} {
			want, werr := json.Marshal(v)
			got, err := appendJSONValue(nil, v)
			if (err != nil) != (werr != nil) || string(got) != string(want) {
				t.Fatalf("appendJSONValue(%#v) = %q, %v; json.Marshal: %q, %v", v, got, err, want, werr)
			}
		}
	}
}

// BenchmarkAppendGetJSON renders multi-get's JSON for 10,000 keys of the
// four features of Feathr's streaming example.
func BenchmarkAppendGetJSON(b *testing.B) {
	features := []string{"f_modified_streaming_count", "f_modified_streaming_count2", "f_trips_today_is_busy", "f_trips_today_ratio"}
	keys := make([]string, 10_000)
	values := make([][]any, len(keys))
	for i := range keys {
		keys[i] = strconv.Itoa(i + 1)
		values[i] = []any{int32(i + 1), int32(3 * i), i%3 == 0, float64(i) / 24}
	}
	values[7] = []any{nil, nil, nil, nil}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := appendGetJSON(nil, keys, features, values, true)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
}

func TestReadKeys(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"1\n2\n3\n", []string{"1", "2", "3"}},
		{"a\r\n\r\n\nb\r\r\nc", []string{"a", "b", "c"}},
		{"  spaced key \n#\n", []string{"  spaced key ", "#"}},
	} {
		got, err := readKeys(strings.NewReader(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("readKeys(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := readKeys(strings.NewReader(strings.Repeat("k", 2<<20))); err == nil {
		t.Error("readKeys of a 2 MiB line: no error")
	}
}
