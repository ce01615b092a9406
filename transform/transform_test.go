package transform

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

var ts = time.Date(2024, 5, 4, 7, 8, 9, 123456000, time.UTC) // a Saturday

// sample is a DriverTrips record; fare, bonus, note, active, dropoff and
// payload are null.
func sample() record.Record {
	return record.Record{
		"driver_id": int64(1001), "trips_today": int64(7), "datetime": ts,
		"trip_distance": 31.5, "city": "Seattle", "fare": nil, "rating": 4.5, "bonus": nil,
		"note": nil, "active": nil, "pickup": "2024-05-04 06:00:00", "dropoff": nil,
		"tags": []any{"a", "b"}, "scores": []any{1.5, 2.5}, "payload": nil, "extra": int64(3),
	}
}

func newEnv(t testing.TB) *Env {
	t.Helper()
	e, err := NewEnv(driverTrips)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type evalCase struct {
	expr string
	out  feature.Type
	want any // nil: null; errWant: an Eval error
}

// errWant marks a case whose Eval must fail.
type errWant string

func runEval(t *testing.T, e *Env, r record.Record, cases []evalCase) {
	t.Helper()
	// One Vars for every case: its values, converted once, must give
	// what Eval gives.
	var vars Vars
	vars.Reset(r)
	for _, c := range cases {
		p, err := e.Compile(c.expr, c.out)
		if err != nil {
			t.Errorf("Compile(%q, %v): %v", c.expr, c.out, err)
			continue
		}
		got, err := p.Eval(r)
		if gotV, errV := p.EvalVars(&vars); (err == nil) != (errV == nil) || (err != nil && err.Error() != errV.Error()) || (err == nil && !equalValue(gotV, got)) {
			t.Errorf("EvalVars(%q) = %#v, %v; Eval gave %#v, %v", c.expr, gotV, errV, got, err)
		}
		if w, ok := c.want.(errWant); ok {
			if err == nil || !strings.Contains(err.Error(), string(w)) {
				t.Errorf("Eval(%q) = %#v, %v; want error containing %q", c.expr, got, err, w)
			}
			continue
		}
		if err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if !equalValue(got, c.want) {
			t.Errorf("Eval(%q) as %v = %#v (%T), want %#v (%T)", c.expr, c.out, got, got, c.want, c.want)
		}
	}
}

func equalValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		if fb, ok := b.(float64); ok {
			return fa == fb || (math.IsNaN(fa) && math.IsNaN(fb)) || math.Abs(fa-fb) < 1e-9*math.Max(1, math.Abs(fb))
		}
	}
	return reflect.DeepEqual(a, b)
}

func TestFeathrExamples(t *testing.T) {
	e := newEnv(t)
	r := sample()
	runEval(t, e, r, []evalCase{
		{"trips_today + 1", feature.Int32, int32(8)},
		{"trips_today + 1", feature.Int64, int64(8)},
		{"cast_float(trip_distance) > 30", feature.Boolean, true},
		{"dayofweek(datetime)", feature.Int32, int32(7)},
		{"(to_unix_timestamp(datetime) - to_unix_timestamp(pickup)) / 60", feature.Double, 68.15},
		{"trips_today % 10", feature.Int32, int32(7)},
		{"if_else(trips_today > 5, 'busy', 'quiet')", feature.String, "busy"},
		{"and(trips_today > 5, trip_distance < 10)", feature.Boolean, false},
		{"or(trips_today > 5, trip_distance < 10)", feature.Boolean, true},
		{"not(trips_today > 5)", feature.Boolean, false},
		{"cast_int(trip_distance)", feature.Int32, int32(31)},
		{"cast_double(trips_today)", feature.Double, 7.0},
		{"trips_today", feature.Int32, int32(7)},
		{"trips_today", feature.Int64, int64(7)},
		{"city", feature.String, "Seattle"},
		{"trip_distance", feature.Float, float32(31.5)},
		{"scores", feature.DoubleVector, []float64{1.5, 2.5}},
		{"scores", feature.FloatVector, []float32{1.5, 2.5}},
		{"[trips_today, 2]", feature.Int64Vector, []int64{7, 2}},
		{"[trip_distance, 1]", feature.DoubleVector, []float64{31.5, 1}},
	})
	// randn: trips_today + N(0,1) * cos(7), truncated to INT32.
	p, err := e.Compile("trips_today + randn() * cos(trips_today)", feature.Int32)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for range 200 {
		v, err := p.Eval(r)
		if err != nil {
			t.Fatal(err)
		}
		seen[v.(int32)] = true
	}
	if len(seen) < 2 {
		t.Errorf("randn expression gave one value over 200 runs: %v", seen)
	}
}

func TestOperators(t *testing.T) {
	e := newEnv(t)
	r := sample()
	runEval(t, e, r, []evalCase{
		// Spark promotes int to double.
		{"trips_today + 0.5", feature.Double, 7.5},
		{"0.5 + trips_today", feature.Double, 7.5},
		{"trips_today * trip_distance", feature.Double, 220.5},
		{"trip_distance - trips_today", feature.Double, 24.5},
		{"7 / 2", feature.Double, 3.5},
		{"trips_today / 0", feature.Double, nil},
		{"trip_distance / 0.0", feature.Double, nil},
		{"trips_today % 0", feature.Int32, nil},
		{"-7 % 3", feature.Int32, int32(-1)},
		{"7.5 % 2", feature.Double, 1.5},
		{"-trips_today", feature.Int32, int32(-7)},
		{"-trip_distance", feature.Double, -31.5},
		{"9223372036854775807 + trips_today", feature.Int64, errWant("overflow")},
		{"-9223372036854775807 - trips_today", feature.Int64, errWant("overflow")},
		{"4611686018427387904 * trips_today", feature.Int64, errWant("overflow")},
		{"'a' + city", feature.String, "aSeattle"},
		{"trips_today == 7.0", feature.Boolean, true},
		{"trips_today != 7", feature.Boolean, false},
		{"trips_today < trip_distance", feature.Boolean, true},
		{"trip_distance >= 31.5", feature.Boolean, true},
		{"city > 'A'", feature.Boolean, true},
		{"datetime > timestamp('2024-01-01T00:00:00Z')", feature.Boolean, true},
		{"trips_today > 3 && city == 'Seattle'", feature.Boolean, true},
		{"trips_today > 30 || city != 'Seattle'", feature.Boolean, false},
		{"!(trips_today > 3)", feature.Boolean, false},
		{"trips_today > 3 ? 1 : 2.5", feature.Double, 1.0},
		{"trips_today > 3 ? 'a' : 'b'", feature.String, "a"},
		{"'b' in tags", feature.Boolean, true},
		{"tags[0]", feature.String, "a"},
		{"size(tags)", feature.Int32, int32(2)},
		{"extra + 1", feature.Int64, int64(4)},
		{"'NaN' == 'NaN'", feature.Boolean, true},
		{"cast_double('NaN') == cast_double('NaN')", feature.Boolean, true},
	})
}

func TestNulls(t *testing.T) {
	e := newEnv(t)
	r := sample()
	runEval(t, e, r, []evalCase{
		{"fare", feature.Double, nil},
		{"fare + 1", feature.Double, nil},
		{"bonus * 2", feature.Int64, nil},
		{"-bonus", feature.Int64, nil},
		{"bonus / 2", feature.Double, nil},
		{"fare > 1", feature.Boolean, nil},
		{"fare == 1.0", feature.Boolean, nil},
		{"fare != 1.0", feature.Boolean, nil},
		{"fare == null", feature.Boolean, true},
		{"fare != null", feature.Boolean, false},
		{"null == fare", feature.Boolean, true},
		{"note + 'x'", feature.String, nil},
		{"upper(note)", feature.String, nil},
		{"cos(bonus)", feature.Double, nil},
		{"trips_today + randn() * cos(bonus)", feature.Int32, nil},
		// Three-valued logic.
		{"active && false", feature.Boolean, false},
		{"active && true", feature.Boolean, nil},
		{"active || true", feature.Boolean, true},
		{"active || false", feature.Boolean, nil},
		{"!active", feature.Boolean, nil},
		{"and(active, false)", feature.Boolean, false},
		{"or(active, true)", feature.Boolean, true},
		{"not(active)", feature.Boolean, nil},
		// A null condition takes the else branch.
		{"if_else(active, 1, 2)", feature.Int32, int32(2)},
		{"active ? 1 : 2", feature.Int32, int32(2)},
		{"if_else(fare > 1, 1, 2)", feature.Int32, int32(2)},
		{"if_else(true, fare, 2.0)", feature.Double, nil},
		{"if_else(trips_today > 1, trips_today, null)", feature.Int32, int32(7)},
		{"if_else(trips_today > 10, trips_today, null)", feature.Int32, nil},
		{"coalesce(fare)", feature.Double, nil},
		{"coalesce(fare, rating)", feature.Double, 4.5},
		{"coalesce(fare, fare, fare, 1.5)", feature.Double, 1.5},
		{"coalesce(bonus, trips_today, 0)", feature.Int32, int32(7)},
		{"coalesce(note, city)", feature.String, "Seattle"},
		{"nvl(bonus, 0)", feature.Int32, int32(0)},
		{"ifnull(bonus, 3)", feature.Int32, int32(3)},
		{"nvl(trips_today, 0)", feature.Int32, int32(7)},
		{"nullif(trips_today, 7)", feature.Int32, nil},
		{"nullif(trips_today, 8)", feature.Int32, int32(7)},
		{"isnull(fare)", feature.Boolean, true},
		{"isnull(trip_distance)", feature.Boolean, false},
		{"isnotnull(fare)", feature.Boolean, false},
		{"isnotnull(city)", feature.Boolean, true},
		{"cast_int(fare)", feature.Int32, nil},
		{"cast_string(bonus)", feature.String, nil},
		{"dayofweek(dropoff)", feature.Int32, nil},
		{"greatest(fare, rating)", feature.Double, 4.5},
		{"least(fare, fare)", feature.Double, nil},
		{"concat(city, note)", feature.String, nil},
		{"concat_ws('-', city, note, 'x')", feature.String, "Seattle-x"},
	})
	// A field missing from the record reads as null.
	runEval(t, e, record.Record{"trips_today": int64(1)}, []evalCase{
		{"fare + trips_today", feature.Double, nil},
		{"city", feature.String, nil},
	})
}

func TestConversionAtRunTime(t *testing.T) {
	e := newEnv(t)
	r := sample()
	runEval(t, e, r, []evalCase{
		{"trip_distance", feature.Int32, int32(31)},
		{"-trip_distance", feature.Int64, int64(-31)},
		{"trip_distance * 1e10", feature.Int32, errWant("out of range")},
		{"trips_today * 1000000000", feature.Int32, errWant("out of range")},
		{"cast_double('NaN')", feature.Int32, errWant("NaN")},
		{"trips_today", feature.Double, 7.0},
		{"trips_today", feature.Float, float32(7)},
		{"city", feature.Bytes, []byte("Seattle")},
		{"extra", feature.Int32, int32(3)},
		{"[1, fare]", feature.DoubleVector, errWant("null")},
	})
}

func TestCompileErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		expr      string
		out       feature.Type
		msg, hint string
		line, col int
	}{
		{"city", feature.Int32, "type string cannot be stored as INT32", "cast_int", 1, 1},
		{"upper(city)", feature.Double, "type string cannot be stored as DOUBLE", "cast_double", 1, 6},
		{"tags", feature.Boolean, "type list(string) cannot be stored as BOOLEAN", "", 1, 1},
		{"tags", feature.FloatVector, "type list(string) cannot be stored as FLOAT_VECTOR", "", 1, 1},
		{"trips_today > 1", feature.Int32, "type bool cannot be stored as INT32", "if_else", 1, 13},
		{"trips_today", feature.Boolean, "type int cannot be stored as BOOLEAN", "x != 0", 1, 1},
		{"trips_today", feature.String, "type int cannot be stored as STRING", "cast_string", 1, 1},
		{"datetime", feature.Int64, "type google.protobuf.Timestamp cannot be stored as INT64", "to_unix_timestamp", 1, 1},
		{"trips_todya + 1", feature.Int32, `unknown field "trips_todya"`, "did you mean trips_today?", 1, 1},
		{"1 + distance", feature.Double, `unknown field "distance"`, "", 1, 5},
		{"dayofweeek(datetime)", feature.Int32, `unknown function "dayofweeek"`, "did you mean dayofweek?", 1, 1},
		{"city + 1", feature.String, "no matching overload for '+' applied to '(string, int)'", "", 1, 6},
		{"city == 1", feature.Boolean, "no matching overload for '==' applied to '(string, int)'", "", 1, 6},
		{"trips_today > 1 AND city = 'x'", feature.Boolean, "Syntax error", "&&", 1, 17},
		{"trips_today > 1 and trip_distance > 2", feature.Boolean, "Syntax error", "for AND", 1, 0},
		{"trips_today > 1 OR city == 'x'", feature.Boolean, "Syntax error", "||", 1, 0},
		{"NOT active", feature.Boolean, "", "!x", 1, 0},
		{"city = 'x'", feature.Boolean, "Syntax error", "==", 1, 0},
		{"city <> 'x'", feature.Boolean, "Syntax error", "!=", 1, 0},
		{"CASE WHEN trips_today > 1 THEN 1 ELSE 0 END", feature.Int32, "", "if_else(c, a, b)", 1, 0},
		{"IF(trips_today > 1, 1, 0)", feature.Int32, "", "if_else(c, a, b)", 1, 0},
		{"CAST(trip_distance AS INT)", feature.Int32, "Syntax error", "cast_int(x)", 1, 0},
		{"CAST(trips_today AS DOUBLE)", feature.Double, "Syntax error", "cast_double(x)", 1, 0},
		{"fare IS NULL", feature.Boolean, "Syntax error", "isnull(x)", 1, 0},
		{"fare IS NOT NULL", feature.Boolean, "Syntax error", "isnotnull(x)", 1, 0},
		{"regexp_extract(city, '(a', 1)", feature.String, "regexp_extract", "", 1, 22},
		{"date_format(datetime, 'yyyy-MM-dd G')", feature.String, "unsupported letter", "", 1, 23},
		{"", feature.Int32, "empty expression", "", 0, 0},
	}
	for _, c := range cases {
		_, err := e.Compile(c.expr, c.out)
		if err == nil {
			t.Errorf("Compile(%q) succeeded", c.expr)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%q): %v is not a *Error", c.expr, err)
			continue
		}
		if !strings.Contains(ce.Msg, c.msg) || !strings.Contains(ce.Hint, c.hint) {
			t.Errorf("Compile(%q) = %q, hint %q; want message with %q, hint with %q", c.expr, ce.Msg, ce.Hint, c.msg, c.hint)
		}
		if ce.Line != c.line || (c.col != 0 && ce.Column != c.col) {
			t.Errorf("Compile(%q) at %d:%d, want %d:%d (%v)", c.expr, ce.Line, ce.Column, c.line, c.col, err)
		}
	}
	// Several problems are joined.
	_, err := e.Compile("nope1 + nope2", feature.Int32)
	if errs := Errors(err); len(errs) != 2 {
		t.Errorf("Errors(%v) = %v, want 2", err, errs)
	}
}

func TestFields(t *testing.T) {
	e := newEnv(t)
	for expr, want := range map[string][]string{
		"trips_today + randn() * cos(trips_today)":                  {"trips_today"},
		"(to_unix_timestamp(datetime) - to_unix_timestamp(pickup))": {"datetime", "pickup"},
		"coalesce(fare, rating, 1.0)":                               {"fare", "rating"},
		"pi()":                                                      nil,
		"city":                                                      {"city"},
	} {
		out := feature.Double
		if expr == "city" {
			out = feature.String
		}
		p, err := e.Compile(expr, out)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Fields(); !reflect.DeepEqual(got, want) {
			t.Errorf("Fields(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestEvalConcurrent(t *testing.T) {
	e := newEnv(t)
	exprs := []string{"trips_today + 1", "trips_today + randn() * cos(trips_today)", "coalesce(bonus, trips_today) * 2",
		"cast_int(regexp_extract(city, '(\\\\w+)', 1) == 'Seattle')", "dayofweek(datetime) + length(city)"}
	var progs []*Program
	for _, x := range exprs {
		p, err := e.Compile(x, feature.Int64)
		if err != nil {
			t.Fatalf("%s: %v", x, err)
		}
		progs = append(progs, p)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				r := sample()
				r["trips_today"] = int64(g*1000 + i)
				for _, p := range progs {
					if _, err := p.Eval(r); err != nil {
						t.Error(err)
						return
					}
				}
				v, _ := progs[0].Eval(r)
				if v != int64(g*1000+i+1) {
					t.Errorf("got %v, want %d", v, g*1000+i+1)
					return
				}
			}
		}()
	}
	wg.Wait()
}
