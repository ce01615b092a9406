package config

import (
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/window"
)

// withAgg returns base with f1 declared typ and transformed by the
// aggregation mapping agg (flow style, on line 16).
func withAgg(typ, agg string) string {
	return strings.Replace(base, "f1: {type: INT32}", "f1: {type: "+typ+", transform: {"+agg+"}}", 1)
}

// Line 16 is `      f1: {type: T, transform: {...}}`: with T = INT64 the
// mapping's first key is at column 32.
var brokenAggTests = []struct {
	name string
	src  string
	want []want
}{
	{"unknown key", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m, windw: 1h"),
		[]want{{16, 82, `feature "f1": transform: unknown field "windw"; did you mean "window"? (allowed: agg_func, agg_expr, window, filter, hop, allowed_lateness)`}}},
	{"unknown function", withAgg("INT64", "agg_func: MEDIAN, agg_expr: '1', window: 10m"),
		[]want{{16, 47, `feature "f1": transform.agg_func: unknown agg_func "MEDIAN" (hint: want one of SUM, COUNT, AVG, MIN, MAX, LATEST, MAX_POOLING, MIN_POOLING, AVG_POOLING, COUNT_DISTINCT)`}}},
	{"function not offered", withAgg("INT64", "agg_func: timesince, agg_expr: ts, window: 10m"),
		[]want{{16, 47, `feature "f1": transform.agg_func: agg_func TIMESINCE is not offered (hint: Feathr lists TIMESINCE but its engines cannot run it`}}},
	{"missing agg_func", withAgg("INT64", "agg_expr: '1', window: 10m"),
		[]want{{16, 36, `feature "f1": transform.agg_func is required (one of SUM, COUNT,`}}},
	{"missing agg_expr and window", withAgg("INT64", "agg_func: COUNT"),
		[]want{
			{16, 36, `feature "f1": transform.agg_expr is required (the expression aggregated, e.g. "1" for COUNT)`},
			{16, 36, `feature "f1": transform.window is required (e.g. 10m, 1h or 7d)`},
		}},
	{"empty agg_expr", withAgg("INT64", "agg_func: COUNT, agg_expr: ' ', window: 10m"),
		[]want{{16, 64, `feature "f1": transform.agg_expr: is empty`}}},
	{"window without unit", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 600"),
		[]want{{16, 77, `feature "f1": transform.window: "600" has no unit (hint: write a whole number and one unit`}}},
	{"window with a month", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 1mo"),
		[]want{{16, 77, `feature "f1": transform.window: "1mo" has an unknown unit "mo" (hint: Feathr has no month unit (its m is minutes): use days, e.g. 30d)`}}},
	{"zero window", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 0m"),
		[]want{{16, 77, `feature "f1": transform.window: "0m" is zero: it must be positive`}}},
	{"window not a multiple of its hop", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m, hop: 3m"),
		[]want{{16, 87, `feature "f1": transform.hop: window 10m is not a multiple of hop 3m (hint: use a hop that divides the window, e.g. 2m or 5m)`}}},
	{"hop longer than the window", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m, hop: 1h"),
		[]want{{16, 87, `feature "f1": transform.hop: hop 1h is longer than the window 10m`}}},
	{"too many tiles", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 1d, hop: 1m"),
		[]want{{16, 86, `feature "f1": transform.hop: window 1d over hop 1m is 1440 tiles, more than 1000`}}},
	{"lateness longer than the window", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m, allowed_lateness: 1h"),
		[]want{{16, 100, `feature "f1": transform.allowed_lateness: allowed_lateness 1h is longer than the window 10m`}}},
	{"bad lateness", withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m, allowed_lateness: -1m"),
		[]want{{16, 100, `feature "f1": transform.allowed_lateness: "-1m" is negative`}}},
	{"AVG declared INT32", withAgg("INT32", "agg_func: AVG, agg_expr: x, window: 1h"),
		[]want{{16, 18, `feature "f1": type: AVG cannot be stored as INT32 (hint: AVG's value is a double: declare FLOAT or DOUBLE)`}}},
	{"COUNT declared STRING", withAgg("STRING", "agg_func: count, agg_expr: '1', window: 1h"),
		[]want{{16, 18, `feature "f1": type: COUNT cannot be stored as STRING (hint: declare INT32, INT64, FLOAT or DOUBLE)`}}},
	{"POOLING declared a scalar", withAgg("DOUBLE", "agg_func: MAX_POOLING, agg_expr: v, window: 1h"),
		[]want{{16, 18, `feature "f1": type: MAX_POOLING cannot be stored as DOUBLE`}}},
	{"transform a list", strings.Replace(base, "f1: {type: INT32}", "f1: {type: INT32, transform: [COUNT]}", 1),
		[]want{{16, 36, `feature "f1": transform: want a single value, got a list`}}},
}

func TestBrokenAggregations(t *testing.T) {
	for _, tt := range brokenAggTests {
		t.Run(tt.name, func(t *testing.T) { checkBroken(t, tt.src, nil, tt.want) })
	}
}

func TestAggregationDefaults(t *testing.T) {
	tests := []struct {
		agg  string
		want window.Spec
	}{
		{"agg_func: COUNT, agg_expr: '1', window: 10m",
			window.Spec{Func: window.Count, Window: 10 * time.Minute, Hop: time.Minute, Lateness: time.Minute}},
		{"agg_func: sum, agg_expr: x, window: 1h, hop: 10m",
			window.Spec{Func: window.Sum, Window: time.Hour, Hop: 10 * time.Minute, Lateness: 10 * time.Minute}},
		{"agg_func: AVG, agg_expr: x, window: 1d, allowed_lateness: 0s",
			window.Spec{Func: window.Avg, Window: window.Day, Hop: 2 * time.Hour}},
	}
	for _, tt := range tests {
		f := mustParse(t, yamlText(withAgg("DOUBLE", tt.agg)), nil)
		a := f.Feature("f1").Agg
		if a == nil || a.Spec != tt.want {
			t.Errorf("%s: spec %+v, want %+v", tt.agg, a, tt.want)
		}
	}
}

// TestAggregationPositions checks that ExprAt and FilterAt map into the
// file, in flow and block style.
func TestAggregationPositions(t *testing.T) {
	src := strings.Replace(base, "f1: {type: INT32}", `f1:
        type: INT64
        transform:
          agg_func: SUM
          agg_expr: "x +  y"
          filter: |
            x > 0 &&
              y > 0
          window: 1h`, 1)
	f := mustParse(t, yamlText(src), nil)
	a := f.Feature("f1").Agg
	if a.Expr != "x +  y" || a.Filter != "x > 0 &&\n  y > 0\n" {
		t.Fatalf("expr %q filter %q", a.Expr, a.Filter)
	}
	for _, tt := range []struct {
		got, want Pos
	}{
		{a.ExprAt(1, 1), Pos{20, 22}},
		{a.ExprAt(1, 6), Pos{20, 27}},
		{a.FilterAt(1, 1), Pos{22, 13}},
		{a.FilterAt(2, 3), Pos{23, 15}},
		{a.KeyPos("window"), Pos{24, 19}},
		{a.KeyPos("hop"), a.Pos},
	} {
		if tt.got != tt.want {
			t.Errorf("got %v, want %v", tt.got, tt.want)
		}
	}
}

func TestAggregationTableNames(t *testing.T) {
	src := strings.Replace(withAgg("INT64", "agg_func: COUNT, agg_expr: '1', window: 10m"), "{table: t}", "{table: '{t}'}", 1)
	_, errs := parseErrs(t, yamlText(src), nil)
	if len(errs) != 1 || errs[0].Line != 10 || errs[0].Column != 16 ||
		errs[0].Msg != `materialization "m": feature "f1" is an aggregation, so the table name "{t}" must not contain '{' or '}'` {
		t.Errorf("got %v", errs)
	}
	src = strings.Replace(base, "{table: t}", `{table: "t\0"}`, 1)
	if _, errs = parseErrs(t, yamlText(src), nil); len(errs) != 1 || !strings.Contains(errs[0].Msg, "must not contain a NUL byte") {
		t.Errorf("got %v", errs)
	}
}
