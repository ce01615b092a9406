package transform

import (
	"math"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

func castFuncs() []*fn {
	scalars := func(result *cel.Type) []sig {
		return []sig{s(result, tInt), s(result, tDouble), s(result, tString), s(result, tBool), s(result, tTime)}
	}
	return []*fn{
		{name: "cast_int", sigs: scalars(tInt), unary: func(v ref.Val) ref.Val { return castInt("cast_int", v, math.MinInt32, math.MaxInt32) }},
		{name: "cast_long", sigs: scalars(tInt), unary: func(v ref.Val) ref.Val { return castInt("cast_long", v, math.MinInt64, math.MaxInt64) }},
		{name: "cast_double", sigs: scalars(tDouble), unary: func(v ref.Val) ref.Val { return castDouble("cast_double", v) }},
		{name: "cast_float", sigs: scalars(tDouble), unary: func(v ref.Val) ref.Val {
			r := castDouble("cast_float", v)
			if d, ok := r.(types.Double); ok {
				return types.Double(float32(d))
			}
			return r
		}},
		{name: "cast_string", sigs: []sig{s(tString, tA)}, unary: castString},
		{name: "cast_bool", sigs: []sig{s(tBool, tInt), s(tBool, tDouble), s(tBool, tString), s(tBool, tBool)}, unary: castBool},
	}
}

// castInt is Spark's cast to INT (lo, hi = int32's range) or BIGINT:
// doubles truncate toward zero, strings parse (an invalid one gives null),
// true is 1, a timestamp gives its Unix seconds. A value out of range is
// an error rather than Spark's silent wrap.
func castInt(name string, v ref.Val, lo, hi int64) ref.Val {
	var i int64
	switch x := v.(type) {
	case types.Int:
		i = int64(x)
	case types.Double:
		f := math.Trunc(float64(x))
		if math.IsNaN(f) || f < float64(lo) || f >= float64(hi)+1 {
			return errorf("%s: %g out of range", name, float64(x))
		}
		i = int64(f)
	case types.String:
		str := strings.TrimSpace(string(x))
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(str, 64)
			if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return types.NullValue
			}
			return castInt(name, types.Double(f), lo, hi)
		}
		i = n
	case types.Bool:
		if x {
			i = 1
		}
	case types.Timestamp:
		i = x.Unix()
	default:
		return badArg(name, v)
	}
	if i < lo || i > hi {
		return errorf("%s: %d out of range", name, i)
	}
	return types.Int(i)
}

// castDouble is Spark's cast to DOUBLE: strings parse (an invalid one gives
// null), true is 1, a timestamp gives its Unix seconds with fraction.
func castDouble(name string, v ref.Val) ref.Val {
	switch x := v.(type) {
	case types.Double:
		return x
	case types.Int:
		return types.Double(x)
	case types.String:
		f, err := parseDouble(strings.TrimSpace(string(x)))
		if err != nil {
			return types.NullValue
		}
		return types.Double(f)
	case types.Bool:
		if x {
			return types.Double(1)
		}
		return types.Double(0)
	case types.Timestamp:
		return types.Double(float64(x.UnixNano()) / 1e9)
	}
	return badArg(name, v)
}

func parseDouble(str string) (float64, error) {
	switch str {
	case "Infinity", "+Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(str, "d"), "D"), 64)
}

// castString is Spark's cast to STRING.
func castString(v ref.Val) ref.Val {
	switch x := v.(type) {
	case types.String:
		return x
	case types.Int:
		return types.String(strconv.FormatInt(int64(x), 10))
	case types.Double:
		return types.String(formatDouble(float64(x)))
	case types.Bool:
		return types.String(strconv.FormatBool(bool(x)))
	case types.Bytes:
		return types.String(x)
	case types.Timestamp:
		return types.String(formatTimestamp(x.Time))
	case traits.Lister:
		var b strings.Builder
		b.WriteByte('[')
		n := int64(x.Size().(types.Int))
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			e := x.Get(types.Int(i))
			if isNull(e) {
				b.WriteString("null")
				continue
			}
			str, ok := castString(e).(types.String)
			if !ok {
				return badArg("cast_string", e)
			}
			b.WriteString(string(str))
		}
		b.WriteByte(']')
		return types.String(b.String())
	}
	return badArg("cast_string", v)
}

// formatDouble formats f as Java's Double.toString, which Spark's cast to
// string uses: "1.0", "0.001", "1.0E7", "1.5E-4", "NaN", "Infinity".
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	a := math.Abs(f)
	if a == 0 || (a >= 1e-3 && a < 1e7) {
		str := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(str, ".") {
			str += ".0"
		}
		return str
	}
	str := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(str, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// formatTimestamp formats t in UTC as Spark casts a timestamp to string:
// "2024-01-02 03:04:05", with a fraction only when it is not zero.
func formatTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999")
}

// castBool is Spark's cast to BOOLEAN: numbers are true when not zero;
// strings t, true, y, yes, 1 and f, false, n, no, 0 (any case) convert,
// others give null.
func castBool(v ref.Val) ref.Val {
	switch x := v.(type) {
	case types.Bool:
		return x
	case types.Int:
		return types.Bool(x != 0)
	case types.Double:
		return types.Bool(x != 0)
	case types.String:
		switch strings.ToLower(strings.TrimSpace(string(x))) {
		case "t", "true", "y", "yes", "1":
			return types.True
		case "f", "false", "n", "no", "0":
			return types.False
		}
		return types.NullValue
	}
	return badArg("cast_bool", v)
}
