package feature

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

type celLike struct{ v any }

func (c celLike) Value() any { return c.v }

func TestConvert(t *testing.T) {
	const bad = "error"
	cases := []struct {
		in   any
		t    Type
		want any
	}{
		{nil, Int32, nil},
		{nil, FloatVector, nil},
		{true, Boolean, true},
		{int64(1), Boolean, bad},
		{1.0, Boolean, bad},
		{"true", Boolean, bad},
		{true, Int32, bad},
		{false, Double, bad},
		{int64(7), Int32, int32(7)},
		{int64(7), Int64, int64(7)},
		{int64(7), Float, float32(7)},
		{int64(7), Double, float64(7)},
		{int64(math.MaxInt32), Int32, int32(math.MaxInt32)},
		{int64(math.MaxInt32 + 1), Int32, bad},
		{int64(math.MinInt32 - 1), Int32, bad},
		{int(3), Int64, int64(3)},
		{int32(3), Int32, int32(3)},
		{uint64(math.MaxUint64), Int64, bad},
		{uint8(200), Int32, int32(200)},
		{3.99, Int32, int32(3)},
		{-3.99, Int32, int32(-3)},
		{-3.99, Int64, int64(-3)},
		{2147483647.9, Int32, int32(math.MaxInt32)},
		{2147483648.0, Int32, bad},
		{-2147483648.9, Int32, int32(math.MinInt32)},
		{-2147483649.0, Int32, bad},
		{9.3e18, Int64, bad},
		{-9223372036854775808.0, Int64, int64(math.MinInt64)},
		{math.NaN(), Int32, bad},
		{math.Inf(1), Int64, bad},
		{1.5, Float, float32(1.5)},
		{1e300, Float, bad},
		{math.Inf(-1), Float, float32(math.Inf(-1))},
		{float32(1.5), Double, 1.5},
		{float32(2.5), Int32, int32(2)},
		{"7", Int32, bad},
		{"7", Double, bad},
		{"abc", String, "abc"},
		{"abc", Bytes, []byte("abc")},
		{[]byte("abc"), Bytes, []byte("abc")},
		{[]byte("abc"), String, bad},
		{int64(1), String, bad},
		{[]any{int64(1), 2.5}, DoubleVector, []float64{1, 2.5}},
		{[]any{int64(1), 2.9}, Int32Vector, []int32{1, 2}},
		{[]any{int64(1), int64(2)}, Int64Vector, []int64{1, 2}},
		{[]any{1.5}, FloatVector, []float32{1.5}},
		{[]any{}, FloatVector, []float32{}},
		{[]any{int64(1), nil}, DoubleVector, bad},
		{[]any{"a"}, DoubleVector, bad},
		{[]any{true}, Int32Vector, bad},
		{[]any{int64(1) << 40}, Int32Vector, bad},
		{[]any{int64(1)}, Double, bad},
		{[]float64{1, 2}, DoubleVector, []float64{1, 2}},
		{[]float64{1, 2}, Int64Vector, []int64{1, 2}},
		{[]int64{1, 2}, FloatVector, []float32{1, 2}},
		{[]int32{1, 2}, Int32Vector, []int32{1, 2}},
		{[]float32{1, 2}, FloatVector, []float32{1, 2}},
		{[]int{1, 2}, DoubleVector, []float64{1, 2}},
		{[]string{"a"}, DoubleVector, bad},
		{celLike{int64(5)}, Int32, int32(5)},
		{celLike{[]any{celLike{1.5}}}, DoubleVector, []float64{1.5}},
		{struct{}{}, Int32, bad},
	}
	for _, c := range cases {
		got, err := Convert(c.in, c.t)
		if c.want == bad {
			if err == nil || !errors.Is(err, ErrConvert) {
				t.Errorf("Convert(%#v, %v) = %#v, %v; want an ErrConvert", c.in, c.t, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Convert(%#v, %v): %v", c.in, c.t, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Convert(%#v, %v) = %#v (%T), want %#v (%T)", c.in, c.t, got, got, c.want, c.want)
		}
	}
}

func TestConvertNoCopy(t *testing.T) {
	in := []float64{1, 2}
	got, _ := Convert(in, DoubleVector)
	if &got.([]float64)[0] != &in[0] {
		t.Error("canonical vector was copied")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Convert(any(int64(1)<<40), Int64) }); n != 0 {
		t.Errorf("Convert of a canonical int64 allocates %v times", n)
	}
}
