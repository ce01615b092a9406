package transform

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

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

// TestEvalScalar checks that EvalScalar gives EvalVars' results, by every
// way a program evaluates (a field, a fast form, the interpreter), for
// the tests' and the documentation's expressions.
func TestEvalScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 0
	for _, schema := range fastSchemas() {
		e, err := NewEnv(schema)
		if err != nil {
			t.Fatal(err)
		}
		exprs := append(exprsInDocs(t), fastExprs...)
		for _, f := range schema.Fields {
			exprs = append(exprs, f.Name)
		}
		for _, x := range exprs {
			for _, ty := range outTypes {
				p, err := e.Compile(x, ty)
				if err != nil {
					continue
				}
				n++
				var vars Vars
				for range 20 {
					r := randomRecord(rng, schema)
					vars.Reset(r)
					want, werr := p.EvalVars(&vars)
					vars.Reset(r)
					s, ok, err := p.EvalScalar(&vars)
					var got any
					if ok {
						got = s.Any()
					}
					same := sameResult
					if strings.Contains(x, "rand") {
						same = sameRandom
					}
					if !same(got, err, want, werr) {
						t.Fatalf("%q as %v for %v: EvalScalar = %#v, %v; EvalVars = %#v, %v", x, ty, r, got, err, want, werr)
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d programs", n)
	}
}
