package transform

import (
	"math"

	"cel.dev/cel-go/cel"
	"math/rand/v2"
	"strconv"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

func mathFuncs() []*fn {
	dbl := func(name string, f func(float64) float64) *fn {
		return &fn{name: name, sigs: numeric(1, tDouble, tDouble), unary: func(v ref.Val) ref.Val {
			x, ok := asFloat(v)
			if !ok {
				return badArg(name, v)
			}
			return types.Double(f(x))
		}, float1: f}
	}
	// logOf is a logarithm that is null for x <= 0, as in Spark.
	logOf := func(name string, f func(float64) float64) *fn {
		return dbl(name, f).withUnaryNull(func(x float64) bool { return x <= 0 })
	}
	var out []*fn
	for _, name := range []string{"pow", "power"} {
		out = append(out, &fn{name: name, sigs: numeric(2, tDouble, tDouble), binary: func(a, b ref.Val) ref.Val {
			x, y, ok := floats(a, b)
			if !ok {
				return badArg(name, a)
			}
			return types.Double(math.Pow(x, y))
		}})
	}
	for _, name := range []string{"signum", "sign"} {
		out = append(out, dbl(name, func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x // 0, -0 or NaN
		}))
	}
	out = append(out,
		&fn{name: "abs", sigs: numeric(1, tInt, tDouble), unary: abs},
		&fn{name: "ceil", sigs: numeric(1, tInt, tInt), unary: func(v ref.Val) ref.Val { return roundToInt("ceil", v, math.Ceil) }},
		&fn{name: "ceiling", sigs: numeric(1, tInt, tInt), unary: func(v ref.Val) ref.Val { return roundToInt("ceiling", v, math.Ceil) }},
		&fn{name: "floor", sigs: numeric(1, tInt, tInt), unary: func(v ref.Val) ref.Val { return roundToInt("floor", v, math.Floor) }},
		&fn{name: "round", sigs: append(numeric(1, tInt, tDouble), s(tInt, tInt, tInt), s(tDouble, tDouble, tInt)),
			vararg: func(args ...ref.Val) ref.Val { return round("round", false, args) }},
		&fn{name: "bround", sigs: append(numeric(1, tInt, tDouble), s(tInt, tInt, tInt), s(tDouble, tDouble, tInt)),
			vararg: func(args ...ref.Val) ref.Val { return round("bround", true, args) }},
		dbl("sqrt", math.Sqrt),
		dbl("cbrt", math.Cbrt),
		dbl("exp", math.Exp),
		dbl("sin", math.Sin),
		dbl("cos", math.Cos),
		dbl("tan", math.Tan),
		dbl("asin", math.Asin),
		dbl("acos", math.Acos),
		dbl("atan", math.Atan),
		dbl("degrees", func(x float64) float64 { return x * 180 / math.Pi }),
		dbl("radians", func(x float64) float64 { return x * math.Pi / 180 }),
		logOf("ln", math.Log),
		logOf("log10", math.Log10),
		logOf("log2", math.Log2),
		&fn{name: "log", sigs: append(numeric(1, tDouble, tDouble), numeric(2, tDouble, tDouble)...),
			unary: func(v ref.Val) ref.Val {
				x, ok := asFloat(v)
				if !ok {
					return badArg("log", v)
				}
				if x <= 0 {
					return types.NullValue
				}
				return types.Double(math.Log(x))
			},
			binary: func(b, v ref.Val) ref.Val {
				base, x, ok := floats(b, v)
				if !ok {
					return badArg("log", v)
				}
				if base <= 0 || x <= 0 {
					return types.NullValue
				}
				return types.Double(math.Log(x) / math.Log(base))
			}},
		&fn{name: "atan2", sigs: numeric(2, tDouble, tDouble), binary: func(a, b ref.Val) ref.Val {
			y, x, ok := floats(a, b)
			if !ok {
				return badArg("atan2", a)
			}
			return types.Double(math.Atan2(y, x))
		}},
		&fn{name: "pmod", sigs: numeric(2, tInt, tDouble), binary: pmod},
		&fn{name: "pi", sigs: []sig{s(tDouble)}, vararg: func(...ref.Val) ref.Val { return types.Double(math.Pi) }},
		&fn{name: "e", sigs: []sig{s(tDouble)}, vararg: func(...ref.Val) ref.Val { return types.Double(math.E) }},
		// rand and randn draw from a goroutine-safe generator. A seed is
		// accepted for compatibility but ignored: Spark's seeded sequence
		// depends on its partitioning and cannot be reproduced per event.
		&fn{name: "rand", sigs: []sig{s(tDouble), s(tDouble, tInt)}, nullable: true,
			vararg: func(...ref.Val) ref.Val { return types.Double(rand.Float64()) }},
		&fn{name: "randn", sigs: []sig{s(tDouble), s(tDouble, tInt)}, nullable: true,
			vararg: func(...ref.Val) ref.Val { return types.Double(rand.NormFloat64()) }},
		extreme("greatest", 1),
		extreme("least", -1),
	)
	return out
}

// withUnaryNull makes f's unary implementation return null for arguments
// for which null reports true.
func (f *fn) withUnaryNull(null func(float64) bool) *fn {
	inner := f.unary
	f.nullIf = null
	f.unary = func(v ref.Val) ref.Val {
		if x, ok := asFloat(v); ok && null(x) {
			return types.NullValue
		}
		return inner(v)
	}
	return f
}

func abs(v ref.Val) ref.Val {
	switch x := v.(type) {
	case types.Int:
		if x == math.MinInt64 {
			return overflow("abs")
		}
		if x < 0 {
			return -x
		}
		return x
	case types.Double:
		return types.Double(math.Abs(float64(x)))
	}
	return badArg("abs", v)
}

// roundToInt applies f (ceil or floor) to a double and returns an int, as
// Spark's ceil and floor return BIGINT.
func roundToInt(name string, v ref.Val, f func(float64) float64) ref.Val {
	switch x := v.(type) {
	case types.Int:
		return x
	case types.Double:
		return floatToInt(name, f(float64(x)))
	}
	return badArg(name, v)
}

// floatToInt converts an integral float to an int, refusing NaN, ±Inf and
// values out of int64's range.
func floatToInt(name string, f float64) ref.Val {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < -9223372036854775808.0 || f >= 9223372036854775808.0 {
		return errorf("%s: %g out of range of a long", name, f)
	}
	return types.Int(int64(f))
}

// round is Spark's round (HALF_UP) and bround (HALF_EVEN) with an optional
// scale, which may be negative.
func round(name string, halfEven bool, args []ref.Val) ref.Val {
	scale := int64(0)
	if len(args) == 2 {
		sc, ok := args[1].(types.Int)
		if !ok {
			return badArg(name, args[1])
		}
		scale = int64(sc)
	}
	switch x := args[0].(type) {
	case types.Int:
		if scale >= 0 {
			return x
		}
		r, ok := roundInt(int64(x), -scale, halfEven)
		if !ok {
			return overflow(name)
		}
		return types.Int(r)
	case types.Double:
		return types.Double(roundDecimal(float64(x), scale, halfEven))
	}
	return badArg(name, args[0])
}

// roundInt rounds x to a multiple of 10^digits.
func roundInt(x, digits int64, halfEven bool) (int64, bool) {
	if digits > 18 {
		return 0, true
	}
	p := int64(1)
	for range digits {
		p *= 10
	}
	q, r := x/p, x%p
	if r < 0 {
		r = -r
	}
	sign := int64(1)
	if x < 0 {
		sign = -1
	}
	if 2*r > p || (2*r == p && (!halfEven || q%2 != 0)) {
		q += sign
	}
	return mulInt(q, p)
}

// roundDecimal rounds x to scale decimal places (tens, hundreds… for a
// negative scale) on its shortest decimal representation, as Spark does
// through BigDecimal: round(2.675, 2) is 2.68, not 2.67.
func roundDecimal(x float64, scale int64, halfEven bool) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return x
	}
	str := strconv.FormatFloat(math.Abs(x), 'e', -1, 64) // d.ddde±XX
	mant, expPart, _ := strings.Cut(str, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expPart)
	keep := int64(exp) + 1 + scale // digits kept before rounding
	if keep >= int64(len(digits)) {
		return x
	}
	if keep < 0 {
		return 0
	}
	var n uint64
	if keep > 0 {
		n, _ = strconv.ParseUint(digits[:keep], 10, 64)
	}
	next := digits[keep]
	rest := int(keep)+1 < len(digits) // digits after next are not all zero
	if next > '5' || (next == '5' && (!halfEven || rest || n%2 == 1)) {
		n++
	}
	if n == 0 {
		return 0
	}
	r, _ := strconv.ParseFloat(strconv.FormatUint(n, 10)+"e"+strconv.FormatInt(int64(exp)+1-keep, 10), 64)
	if x < 0 {
		r = -r
	}
	return r
}

func pmod(a, b ref.Val) ref.Val {
	if x, y, ok := ints(a, b); ok {
		if y == 0 {
			return types.NullValue
		}
		r := x % y
		if r < 0 {
			if y < 0 {
				r -= y
			} else {
				r += y
			}
		}
		return types.Int(r)
	}
	x, y, ok := floats(a, b)
	if !ok {
		return badArg("pmod", a)
	}
	if y == 0 {
		return types.NullValue
	}
	r := math.Mod(x, y)
	if r < 0 {
		r += math.Abs(y)
	}
	return types.Double(r)
}

// extreme is greatest (dir 1) or least (dir -1): nulls are skipped, the
// result is null only if every argument is; ints mixed with doubles
// compare and return as doubles.
func extreme(name string, dir int) *fn {
	sigs := append(numeric(2, tInt, tDouble), numeric(3, tInt, tDouble)...)
	for n := 2; n <= maxVarargs; n++ {
		for _, t := range []*cel.Type{tString, tTime, tBool} {
			sigs = append(sigs, repeat(n, n, t, t)...)
		}
		if n > 3 {
			sigs = append(sigs, repeat(n, n, tInt, tInt)...)
			sigs = append(sigs, repeat(n, n, tDouble, tDouble)...)
		}
	}
	pick := func(args ...ref.Val) ref.Val {
		var best ref.Val = types.NullValue
		anyDouble := false
		for _, a := range args {
			if isNull(a) {
				continue
			}
			if _, ok := a.(types.Double); ok {
				anyDouble = true
			}
			if isNull(best) {
				best = a
				continue
			}
			c, err := compare(a, best)
			if err != nil {
				return err
			}
			if c*dir > 0 {
				best = a
			}
		}
		if i, ok := best.(types.Int); ok && anyDouble {
			return types.Double(i)
		}
		return best
	}
	return &fn{name: name, sigs: sigs, nullable: true, vararg: pick,
		binary: func(a, b ref.Val) ref.Val { return pick(a, b) }}
}
