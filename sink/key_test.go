package sink

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
)

func TestAppendKeyPart(t *testing.T) {
	const (
		b  = feature.KeyBool
		i4 = feature.KeyInt32
		i8 = feature.KeyInt64
		f4 = feature.KeyFloat
		f8 = feature.KeyDouble
		s  = feature.KeyString
		by = feature.KeyBytes
	)
	noon := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    any
		typ  feature.KeyType
		want string
		err  string // a substring of the error; "" for none
	}{
		// null, whatever the type
		{nil, i8, "_null_", ""},
		{nil, s, "_null_", ""},
		{nil, by, "_null_", ""},

		// int64
		{int64(7), i8, "7", ""},
		{int64(-7), i8, "-7", ""},
		{int64(0), i8, "0", ""},
		{int64(math.MaxInt64), i8, "9223372036854775807", ""},
		{int64(math.MinInt64), i8, "-9223372036854775808", ""},
		{int64(math.MaxInt32), i4, "2147483647", ""},
		{int64(math.MinInt32), i4, "-2147483648", ""},
		{int64(math.MaxInt32) + 1, i4, "", "2147483648 overflows INT32"},
		{int64(math.MinInt32) - 1, i4, "", "-2147483649 overflows INT32"},
		{int64(42), s, "42", ""},
		{int64(3), f8, "3.0", ""},
		{int64(3), f4, "3.0", ""},
		{int64(-3), f8, "-3.0", ""},
		{int64(9999999), f8, "9999999.0", ""},
		{int64(10000000), f8, "1.0E7", ""},
		{int64(16777217), f8, "1.6777217E7", ""},
		{int64(16777217), f4, "1.6777216E7", ""}, // as a float, like a float column

		// float64 as a DOUBLE key: as Java's Double.toString
		{1.0, f8, "1.0", ""},
		{0.5, f8, "0.5", ""},
		{-2.5, f8, "-2.5", ""},
		{0.1, f8, "0.1", ""},
		{100.0, f8, "100.0", ""},
		{1234567.0, f8, "1234567.0", ""},
		{9999999.5, f8, "9999999.5", ""},
		{1e7, f8, "1.0E7", ""},
		{1e10, f8, "1.0E10", ""},
		{123456789.0, f8, "1.23456789E8", ""},
		{1e21, f8, "1.0E21", ""},
		{1e300, f8, "1.0E300", ""},
		{0.001, f8, "0.001", ""},
		{0.0001, f8, "1.0E-4", ""},
		{1e-5, f8, "1.0E-5", ""},
		{1.5e-5, f8, "1.5E-5", ""},
		{-1e-5, f8, "-1.0E-5", ""},
		{0.0, f8, "0.0", ""},
		{math.Copysign(0, -1), f8, "-0.0", ""},
		{math.NaN(), f8, "NaN", ""},
		{math.Inf(1), f8, "Infinity", ""},
		{math.Inf(-1), f8, "-Infinity", ""},
		{1.0, s, "1.0", ""},

		// float64 as a FLOAT key: rounded to float32, printed as Java's Float.toString
		{0.1, f4, "0.1", ""},
		{1.1, f4, "1.1", ""},
		{0.5, f4, "0.5", ""},
		{1e10, f4, "1.0E10", ""},
		{1e-5, f4, "1.0E-5", ""},
		{16777217.0, f4, "1.6777216E7", ""},
		{3.4e38, f4, "3.4E38", ""},
		{1e39, f4, "Infinity", ""},
		{math.NaN(), f4, "NaN", ""},

		// float64 as an integer key (a field of unknown type)
		{7.0, i8, "7", ""},
		{-7.9, i8, "-7", ""},
		{3e9, i8, "3000000000", ""},
		{3e9, i4, "", "overflows INT32"},
		{-3e9, i4, "", "overflows INT32"},
		{1e19, i8, "", "is not an integer key"},
		{math.NaN(), i8, "", "NaN is not an integer key"},
		{math.Inf(1), i4, "", "+Inf is not an integer key"},

		// bool
		{true, b, "true", ""},
		{false, b, "false", ""},
		{true, s, "true", ""},

		// string
		{"Seattle", s, "Seattle", ""},
		{"", s, "", ""},
		{"a#b:c", s, "a#b:c", ""},
		{"héllo", s, "héllo", ""},
		{"42", i8, "42", ""},
		{"-42", i4, "-42", ""},
		{"007", i8, "7", ""},
		{"x", i8, "", `"x" is not an integer`},
		{"1.5", i4, "", `"1.5" is not an integer`},
		{"", i8, "", `"" is not an integer`},
		{"3000000000", i4, "", "3000000000 overflows INT32"},
		{"3000000000", i8, "3000000000", ""},
		{"abc", by, "abc", ""},

		// []byte
		{[]byte("raw\x00bytes"), by, "raw\x00bytes", ""},
		{[]byte{}, by, "", ""},

		// time.Time: as Spark casts a timestamp to a string, in UTC; epoch
		// milliseconds for an INT64 key
		{noon, s, "2026-11-26 12:00:00", ""},
		{noon.Add(123 * time.Millisecond), s, "2026-11-26 12:00:00.123", ""},
		{noon.Add(120 * time.Microsecond), s, "2026-11-26 12:00:00.00012", ""},
		{noon.In(time.FixedZone("UTC-8", -8*3600)), s, "2026-11-26 12:00:00", ""},
		{noon, i8, "1795694400000", ""},

		// types a decoder never produces
		{int32(7), i4, "", "a int32 cannot be a key"},
		{[]any{int64(1)}, s, "", "a []interface {} cannot be a key"},
		{map[string]any{}, s, "", "cannot be a key"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T(%v)/%v", tt.v, tt.v, tt.typ), func(t *testing.T) {
			const prefix = "table:"
			got, err := AppendKeyPart([]byte(prefix), 0, tt.v, tt.typ)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("AppendKeyPart(%#v, %v) error = %v, want one containing %q", tt.v, tt.typ, err, tt.err)
				}
				if string(got) != prefix {
					t.Errorf("on error, dst = %q, want it unchanged (%q)", got, prefix)
				}
				return
			}
			if err != nil {
				t.Fatalf("AppendKeyPart(%#v, %v): %v", tt.v, tt.typ, err)
			}
			if string(got) != prefix+tt.want {
				t.Errorf("AppendKeyPart(%#v, %v) = %q, want %q", tt.v, tt.typ, got[len(prefix):], tt.want)
			}
		})
	}
}
