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
	"time"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

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
	same := sameResult
	if strings.Contains(p.expr, "rand") {
		same = sameRandom
	}
	for _, c := range []struct {
		name string
		v    any
		err  error
	}{{"fast", fast, ferr}, {"EvalVars", viaVars, vErr}, {"Eval", viaEval, eErr}, {"CEL EvalVars", slowVars, svErr}} {
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

// TestFastPathMatchesCEL evaluates every expression of the tests, of the
// documentation and of fastExprs that has a fast form, over many records,
// by the fast path and by the interpreter.
func TestFastPathMatchesCEL(t *testing.T) {
	// The tests' expressions are over DriverTrips; the documentation's
	// over any of the schemas.
	start := time.Now()
	progs := fastPrograms(t, exprsInTests(t), driverTrips)
	progs = append(progs, fastPrograms(t, append(exprsInDocs(t), fastExprs...), fastSchemas()...)...)
	t.Logf("%d programs with a fast form, compiled in %v", len(progs), time.Since(start))
	if len(progs) < 150 {
		t.Fatalf("only %d programs with a fast form", len(progs))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 150
	if testing.Short() || raceEnabled {
		n = 30
	}
	for _, fp := range progs {
		for range n {
			checkSame(t, fp.p, randomRecord(rng, fp.schema))
		}
		checkSame(t, fp.p, record.Record{}) // every field missing
		if t.Failed() {
			return
		}
	}
}

// TestFastPathSharedVars evaluates all the fast programs of one schema
// with one Vars per record, as Process does, so that later programs read
// the fields the earlier ones cached.
func TestFastPathSharedVars(t *testing.T) {
	var progs []*Program
	for _, fp := range fastPrograms(t, fastExprs, driverTrips) {
		if reflect.DeepEqual(fp.schema, driverTrips) {
			progs = append(progs, fp.p)
		}
	}
	if len(progs) < 50 {
		t.Fatalf("only %d programs", len(progs))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var vars Vars
	for range 200 {
		r := randomRecord(rng, driverTrips)
		vars.Reset(r)
		for _, p := range progs {
			got, err := p.EvalVars(&vars)
			want, werr := p.evalCEL(r)
			if !strings.Contains(p.expr, "rand") && !sameResult(got, err, want, werr) {
				t.Fatalf("%q as %v for %v: EvalVars = %#v, %v; CEL = %#v, %v", p.expr, p.out, r, got, err, want, werr)
			}
		}
		vars.Reset(nil)
	}
}

// TestFastForms checks which expressions get a fast form.
func TestFastForms(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		expr string
		out  feature.Type
		fast bool
	}{
		{"trips_today", feature.Int32, true},
		{"trips_today + 1", feature.Int32, true},
		{"trips_today > 10", feature.Boolean, true},
		{"cast_double(trips_today) / 24.0", feature.Double, true},
		{"cast_float(trip_distance) > 30", feature.Boolean, true},
		{"trips_today > 3 && city == 'Seattle'", feature.Boolean, true},
		{"if_else(active, 1, 2.5)", feature.Double, true},
		{"fare == null", feature.Boolean, true},
		{"trips_today + randn() * cos(trips_today)", feature.Int32, true},
		{"sqrt(trip_distance) + log10(trips_today)", feature.Double, true},
		{"dayofweek(datetime)", feature.Int32, false},
		{"extra + 1", feature.Int64, false}, // a dyn field
		{"size(tags)", feature.Int32, false},
		{"if_else(trips_today > 1, trips_today, null)", feature.Int32, false},
		{"upper(city)", feature.String, false},
	} {
		p, err := e.Compile(c.expr, c.out)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if got := p.fast != nil || p.prg == nil; got != c.fast || p.Fast() != c.fast {
			t.Errorf("%q: fast form %v, want %v", c.expr, got, c.fast)
		}
	}
}

// TestFastPathFallsBack checks that a field holding a Go value the fast
// path does not read (an int32 where decoders put an int64) is evaluated
// by the interpreter.
func TestFastPathFallsBack(t *testing.T) {
	e := newEnv(t)
	p, err := e.Compile("trips_today + 1", feature.Int64)
	if err != nil {
		t.Fatal(err)
	}
	r := record.Record{"trips_today": int32(41)}
	if _, _, ok := p.evalFast(r, nil); ok {
		t.Fatal("fast path read an int32")
	}
	var vars Vars
	vars.Reset(r)
	for _, got := range []func() (any, error){func() (any, error) { return p.Eval(r) }, func() (any, error) { return p.EvalVars(&vars) }} {
		if v, err := got(); err != nil || v != int64(42) {
			t.Errorf("= %v, %v; want 42", v, err)
		}
	}
}

// FuzzFastPathMatchesCEL compiles a fuzzed expression over a record of
// fuzzed values; when it has a fast form, the fast path and the
// interpreter must give the same value or the same error.
func FuzzFastPathMatchesCEL(f *testing.F) {
	envs := map[int]*Env{}
	schemas := fastSchemas()
	// More seeds are in testdata/fuzz/FuzzFastPathMatchesCEL.
	for i, fp := range fastPrograms(f, fastExprs, schemas...) {
		si := 0
		for j, sc := range schemas {
			if reflect.DeepEqual(sc, fp.schema) {
				si = j
			}
		}
		out := uint8(0)
		for j, ty := range outTypes {
			if ty == fp.p.out {
				out = uint8(j)
			}
		}
		nulls := uint8(si<<4) | uint8(i%16)
		f.Add(fp.p.expr, out, intVals[1+i%(len(intVals)-1)].(int64), floatVals[1+i%(len(floatVals)-1)].(float64),
			stringVals[1+i%(len(stringVals)-1)].(string), i%2 == 0, nulls)
	}
	f.Fuzz(func(t *testing.T, expr string, out uint8, i int64, d float64, s string, b bool, nulls uint8) {
		si := int(nulls>>4) % len(schemas)
		e := envs[si]
		if e == nil {
			var err error
			if e, err = NewEnv(schemas[si]); err != nil {
				t.Fatal(err)
			}
			envs[si] = e
		}
		p, err := e.Compile(expr, outTypes[int(out)%len(outTypes)])
		if err != nil || p.fast == nil {
			t.Skip()
		}
		// Each field takes the fuzzed value of its kind, or null when its
		// bit of nulls is set.
		r := record.Record{}
		for j, fd := range schemas[si].Fields {
			var v any
			switch fd.Type.Kind {
			case record.Int:
				v = i
			case record.Float:
				v = d
			case record.String:
				v = s
			case record.Bool:
				v = b
			default:
				continue
			}
			if nulls&(1<<(j%4)) != 0 {
				v = nil
			}
			r[fd.Name] = v
		}
		checkSame(t, p, r)
	})
}
