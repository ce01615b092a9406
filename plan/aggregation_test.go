package plan

import (
	"strings"
	"testing"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// aggYAML is baseYAML with f_n an aggregation on line 19 (its mapping
// at column 37).
func aggYAML(t *testing.T, typ, agg string) string {
	t.Helper()
	return edit(t, `f_n: {type: INT32, transform: "n + 1"}`, `f_n: {type: `+typ+`, transform: {`+agg+`}}`)
}

func TestCompileAggregationErrors(t *testing.T) {
	tests := []struct {
		name, typ, agg string
		msg            string
		line, col      int
	}{
		{"SUM over a string", "INT64", `agg_func: SUM, window: 1h, agg_expr: "city"`,
			`feature f_n: agg_expr: SUM aggregates numbers; agg_expr is string (hint: parse it with cast_double(x))`, 19, 76},
		{"MAX over a bool", "INT64", `agg_func: MAX, window: 1h, agg_expr: "n > 1"`,
			`feature f_n: agg_expr: MAX aggregates numbers; agg_expr is bool (hint: convert it with if_else(c, 1, 0))`, 19, 76},
		{"POOLING over a scalar", "DOUBLE_VECTOR", `agg_func: AVG_POOLING, window: 1h, agg_expr: "n"`,
			`feature f_n: agg_expr: AVG_POOLING aggregates lists of numbers; agg_expr is int (hint: use AVG for a scalar)`, 19, 92},
		{"COUNT_DISTINCT over a list", "INT64", `agg_func: COUNT_DISTINCT, window: 1h, agg_expr: "[n, n]"`,
			`feature f_n: agg_expr: COUNT_DISTINCT aggregates scalars; agg_expr is array<int> (hint: count one field of it, or a string made of it)`, 19, 87},
		{"unknown field in agg_expr", "INT64", `agg_func: SUM, window: 1h, agg_expr: "n + nn"`,
			`feature f_n: unknown field "nn" (hint: did you mean n?)`, 19, 80},
		{"filter not boolean", "INT64", `agg_func: COUNT, window: 1h, agg_expr: "1", filter: "n + 1"`,
			`feature f_n: filter: filter must be boolean, not int (hint: compare it, e.g. x > 0)`, 19, 91},
		{"unknown field in the filter", "INT64", `agg_func: COUNT, window: 1h, agg_expr: "1", filter: "n > m"`,
			`feature f_n: unknown field "m"`, 19, 95},
		{"LATEST of a string as INT32", "INT32", `agg_func: LATEST, window: 1h, agg_expr: "city"`,
			`feature f_n: expression of type string cannot be stored as INT32 (hint: parse it with cast_int(x) or cast_long(x))`, 19, 79},
		{"always null", "INT64", `agg_func: SUM, window: 1h, agg_expr: "null"`,
			`feature f_n: agg_expr: agg_expr is always null, so SUM would always be null`, 19, 76},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := compileErrs(t, aggYAML(t, tt.typ, tt.agg), Options{})
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), errs)
			}
			if e := errs[0]; e.Msg != tt.msg || e.Line != tt.line || e.Column != tt.col {
				t.Errorf("got %d:%d: %s\nwant %d:%d: %s", e.Line, e.Column, e.Msg, tt.line, tt.col, tt.msg)
			}
		})
	}
}

// TestCompileAggregationsMix checks that aggregated and row-level
// features of one anchor share a target, each in its list, with the
// programs each function evaluates.
func TestCompileAggregationsMix(t *testing.T) {
	src := strings.Replace(aggYAML(t, "INT64", `agg_func: COUNT, window: 10m, agg_expr: "1", filter: "n > 0"`),
		`f_city: {type: STRING, transform: "upper(city)"}`, `f_city: {type: DOUBLE, transform: {agg_func: AVG, agg_expr: n, window: 1d}}`, 1)
	p, errs := compileErrs(t, src, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m := p.Materializations[0]
	tg := p.Sources[0].Targets[0]
	if len(tg.Features) != 1 || tg.Features[0].Name != "f_block" {
		t.Fatalf("row-level features %v", tg.Features)
	}
	if len(m.Aggregations) != 2 || len(tg.Aggregations) != 2 || tg.Aggregations[1].Index != 1 || tg.Aggregations[1].Name != "f_city" {
		t.Fatalf("aggregations %v, target's %v", m.Aggregations, tg.Aggregations)
	}
	count, avg := tg.Aggregations[0].Agg, tg.Aggregations[1].Agg
	if count.Filter == nil || count.Expr.Type() != 0 || avg.Expr.Type() != feature.Double {
		t.Errorf("programs: count filter %v expr type %v, avg expr type %v", count.Filter, count.Expr.Type(), avg.Expr.Type())
	}
	if count.Spec.Func != window.Count || avg.Spec.Func != window.Avg || avg.Spec.Hop.Hours() != 2 {
		t.Errorf("specs %v, %v", count.Spec, avg.Spec)
	}
	if got := avg.String(); got != "AVG(n) window 1d hop 2h allowed_lateness 2h" {
		t.Errorf("String %q", got)
	}
}
