package transform

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

// The harness of the fast path's differential tests: the schemas and the
// expressions they cover, the programs that have a fast form, random
// records, and the comparison of the fast path's results with the
// interpreter's.

// fastSchemas are the schemas the differential tests compile against:
// DriverTrips, and generic ones for the documentation's examples (x, a,
// b, c, ts), with x of each scalar kind.
func fastSchemas() []record.Schema {
	out := []record.Schema{driverTrips}
	for _, k := range []record.Kind{record.Int, record.Float, record.String, record.Bool} {
		out = append(out, record.Schema{Fields: []record.Field{
			{Name: "x", Type: record.Type{Kind: k, Nullable: true}},
			{Name: "y", Type: record.Type{Kind: record.Float, Nullable: true}},
			{Name: "n", Type: record.Type{Kind: record.Int, Nullable: true}},
			{Name: "s", Type: record.Type{Kind: record.String, Nullable: true}},
			{Name: "a", Type: record.Type{Kind: record.Bool, Nullable: true}},
			{Name: "b", Type: record.Type{Kind: record.Bool, Nullable: true}},
			{Name: "c", Type: record.Type{Kind: record.Bool, Nullable: true}},
			{Name: "ts", Type: record.Type{Kind: record.Timestamp, Nullable: true}},
		}})
	}
	return out
}

var outTypes = []feature.Type{feature.Boolean, feature.Int32, feature.Int64, feature.Float, feature.Double, feature.String, feature.Bytes}

// fastExprs are expressions written for the fast path, beside those found
// in the tests and the documentation.
var fastExprs = []string{
	"trips_today", "trips_today + 1", "trips_today - 1", "trips_today * 3", "trips_today / 2", "trips_today % 7",
	"1 + trips_today", "10 - trips_today", "trips_today * trips_today", "trips_today / trips_today",
	"trips_today % trips_today", "trips_today + trip_distance", "trip_distance * 2", "trip_distance / 0.5",
	"trip_distance % 2.5", "trip_distance - trips_today", "-trips_today", "-trip_distance", "-(trips_today + 1)",
	"trips_today > 10", "trips_today >= 10", "trips_today < 10.5", "trips_today <= -3", "trip_distance > 30",
	"trip_distance == 31.5", "trip_distance != trip_distance", "trips_today == trip_distance",
	"trips_today != 7", "city == 'Seattle'", "city != 'Seattle'", "city < 'M'", "city >= note",
	"active == true", "active != false", "active < true", "active", "!active", "fare == null", "fare != null",
	"isnull(bonus)", "isnotnull(city)", "trips_today > 3 && trip_distance < 40.0", "active || trips_today > 3",
	"!(fare > 1.0) || isnull(fare)", "trips_today > 3 ? trips_today : trip_distance",
	"trips_today > 3 ? trip_distance : trips_today", "active ? 1 : 0", "if_else(fare > 10.0, fare, rating)",
	"if_else(active, city, note)", "if_else(trips_today > 3, 'busy', 'quiet')", "if_else(active, true, false)",
	"cast_int(trip_distance)", "cast_long(trip_distance)", "cast_int(trips_today)", "cast_long(fare)",
	"cast_double(trips_today)", "cast_float(trip_distance)", "cast_float(trips_today)", "cast_double(city)",
	"cast_int(city)", "cast_long(note)", "cast_float(pickup)", "cast_bool(trips_today)", "cast_bool(fare)",
	"cast_bool(city)", "cast_bool(active)", "cast_int(active)", "cast_double(active)",
	"cast_string(trips_today)", "cast_string(trip_distance)", "cast_string(active)", "cast_string(city)",
	"cast_double(trips_today) / 24.0", "cast_int(trip_distance * 100) / 100", "bonus * 2 + trips_today",
	"(trips_today + bonus) * (trip_distance - fare)", "trips_today * 1000000000", "trip_distance * 1e10",
	"9223372036854775807 + trips_today", "-9223372036854775807 - trips_today", "4611686018427387904 * trips_today",
	"trips_today + 1.5 > rating", "city + '!'", "city + note", "cast_string(trips_today) + city",
	"x", "x + 1", "x - 1.5", "x * y", "x / n", "x % n", "x > n", "x == y", "x != s", "x < s", "-x",
	"cast_int(x)", "cast_long(x)", "cast_double(x)", "cast_float(x)", "cast_bool(x)", "cast_string(x)",
	"x + n > y ? x : n", "a && b || !c", "a ? x : y", "isnull(x) || x > 0",
	"cos(trips_today)", "sqrt(trip_distance)", "ln(fare)", "log10(trips_today)", "log2(x)", "signum(x)",
	"degrees(y) + radians(n)", "exp(x) * sin(y)", "trips_today + randn() * cos(trips_today)", "rand() < 0.5",
	"rand(42) + trips_today", "randn() * fare",
}

// exprsInTests returns every string literal of this package's test files:
// the expressions of their tables, among other strings.
func exprsInTests(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

var (
	backtickRE  = regexp.MustCompile("`([^`]+)`")
	yamlTransRE = regexp.MustCompile(`transform:\s*"([^"]+)"`)
)

// exprsInDocs returns the code spans of the README and the transforms of
// the example configuration.
func exprsInDocs(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"../README.md", "../features.example.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range backtickRE.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
		for _, m := range yamlTransRE.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// fastProgram is a program with a fast form and the record generator for
// its schema.
type fastProgram struct {
	p      *Program
	schema record.Schema
}

// fastPrograms compiles exprs against each schema and output type and
// returns the programs that have a fast form.
func fastPrograms(t testing.TB, exprs []string, schemas ...record.Schema) []fastProgram {
	t.Helper()
	var out []fastProgram
	seen := map[string]bool{}
	for _, schema := range schemas {
		e, err := NewEnv(schema)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range exprs {
			// Whether an expression has a fast form does not depend on
			// its output type: look at one type first.
			p, err := e.Compile(x, feature.Double)
			if err != nil && !strings.Contains(err.Error(), "cannot be stored as") || err == nil && !p.Fast() {
				continue
			}
			for _, ty := range outTypes {
				p, err := e.Compile(x, ty)
				if err != nil || p.fast == nil {
					continue
				}
				key := x + "\x00" + ty.String() + "\x00" + schema.Fields[0].Type.String()
				if !seen[key] {
					seen[key] = true
					out = append(out, fastProgram{p, schema})
				}
			}
		}
	}
	return out
}

// Values each kind of field takes in the differential tests: nulls,
// zeros, extremes, NaN, ±Inf, -0.0, and strings that do and do not parse.
var (
	intVals = []any{nil, int64(0), int64(1), int64(-1), int64(7), int64(10), int64(255), int64(256),
		int64(math.MaxInt32), int64(math.MaxInt32) + 1, int64(math.MinInt32), int64(math.MinInt32) - 1,
		int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64 - 1), int64(1<<53 + 1), int64(-1 << 62)}
	floatVals = []any{nil, 0.0, math.Copysign(0, -1), 0.5, -2.5, 31.5, 1e10, 3e9, -3e9, 2147483647.9,
		-2147483648.9, 9.3e18, -9.3e18, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.MaxFloat32 * 2, math.NaN(), math.Inf(1), math.Inf(-1), 24.0, 1e-4, 1e7}
	stringVals = []any{nil, "", "Seattle", "A", "M", " 42 ", "1.9", "-1.5e3", "abc", "NaN", "Infinity",
		"-Infinity", "true", "FALSE", "yes", "0", "1e400", "9223372036854775808", "-9223372036854775809",
		"3000000000", "12d"}
	boolVals = []any{nil, true, false}
)

func valuesOf(k record.Kind) []any {
	switch k {
	case record.Int:
		return intVals
	case record.Float:
		return floatVals
	case record.String:
		return stringVals
	case record.Bool:
		return boolVals
	}
	return nil
}

// randomRecord returns a record of schema whose scalar fields take values
// from the lists above, and whose other fields are absent (null).
func randomRecord(rng *rand.Rand, schema record.Schema) record.Record {
	r := record.Record{}
	for _, f := range schema.Fields {
		if vals := valuesOf(f.Type.Kind); vals != nil {
			r[f.Name] = vals[rng.IntN(len(vals))]
		}
	}
	return r
}

// checkSame evaluates p for r by the fast path and by the interpreter, by
// Eval and by EvalVars, and reports any difference of value or error.
func checkSame(t testing.TB, p *Program, r record.Record) {
	t.Helper()
	var vars Vars
	vars.Reset(r)
	fast, ferr, ok := p.evalFast(r, nil)
	if !ok {
		t.Fatalf("%q as %v: fast path refused %v", p.expr, p.out, r)
	}
	slow, serr := p.evalCEL(r)
	vars.Reset(r)
	slowVars, svErr := p.evalVarsCEL(&vars)
	vars.Reset(r)
	viaVars, vErr := p.EvalVars(&vars)
	viaEval, eErr := p.Eval(r)
	vars.Reset(r)
	var viaScalar any
	sc, ok, scErr := p.EvalScalar(&vars)
	if ok {
		viaScalar = sc.Any()
	}
	same := sameResult
	if strings.Contains(p.expr, "rand") {
		same = sameRandom
	}
	for _, c := range []struct {
		name string
		v    any
		err  error
	}{{"fast", fast, ferr}, {"EvalVars", viaVars, vErr}, {"Eval", viaEval, eErr}, {"CEL EvalVars", slowVars, svErr}, {"EvalScalar", viaScalar, scErr}} {
		if !same(c.v, c.err, slow, serr) {
			t.Errorf("%q as %v for %v: %s = %#v, %v; CEL = %#v, %v", p.expr, p.out, r, c.name, c.v, c.err, slow, serr)
		}
	}
}

// sameResult reports whether two results are identical: the same error
// message, or the same value of the same type, floats compared bit for
// bit (NaN payloads aside), so that -0.0 differs from 0.0.
func sameResult(a any, aerr error, b any, berr error) bool {
	if (aerr == nil) != (berr == nil) {
		return false
	}
	if aerr != nil {
		return aerr.Error() == berr.Error()
	}
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y)))
	case float32:
		y, ok := b.(float32)
		return ok && (math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y))
	}
	return reflect.DeepEqual(a, b)
}

// sameRandom is sameResult for expressions of rand or randn, whose two
// evaluations draw different numbers: the results must be both null, or
// values of the same type, or the same error, except that a result that
// does not convert to the declared type (out of range, ±Inf: which
// depends on the number drawn) may be anything.
func sameRandom(a any, aerr error, b any, berr error) bool {
	if errors.Is(aerr, feature.ErrConvert) || errors.Is(berr, feature.ErrConvert) {
		return true
	}
	if aerr != nil || berr != nil {
		return sameResult(a, aerr, b, berr)
	}
	return reflect.TypeOf(a) == reflect.TypeOf(b)
}
