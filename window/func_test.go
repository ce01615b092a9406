package window

import (
	"errors"
	"testing"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

func TestParseFunc(t *testing.T) {
	for _, f := range Funcs() {
		for _, s := range []string{f.String(), " " + f.String() + " ", lower(f.String())} {
			got, err := ParseFunc(s)
			if err != nil || got != f {
				t.Errorf("ParseFunc(%q) = %v, %v; want %v", s, got, err, f)
			}
		}
	}
	for _, tc := range []struct{ in, msg, hint string }{
		{"AVERAGE", `unknown agg_func "AVERAGE"`, "want one of " + funcList()},
		{"", `unknown agg_func ""`, "want one of " + funcList()},
		{"timesince", "agg_func TIMESINCE is not offered", "Feathr lists TIMESINCE but its engines cannot run it (a MatchError at job time); want one of " + funcList()},
		{"Sum_Pooling", "agg_func SUM_POOLING is not offered", "Feathr lists SUM_POOLING but its engines cannot run it (a MatchError at job time); AVG_POOLING is element-wise; want one of " + funcList()},
		{"DISTINCT", "agg_func DISTINCT is not offered", "Feathr's DISTINCT returns an unordered array and works only for INT and STRING; COUNT_DISTINCT counts distinct values; want one of " + funcList()},
	} {
		_, err := ParseFunc(tc.in)
		checkError(t, "ParseFunc("+tc.in+")", err, "agg_func", tc.msg, tc.hint)
	}
	if got := Func(0).String(); got != "Func(0)" {
		t.Errorf("Func(0).String() = %q", got)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkError checks that err is one *Error with these fields.
func checkError(t *testing.T, what string, err error, key, msg, hint string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v, want *Error %q", what, err, msg)
		return
	}
	if e.Key != key || e.Msg != msg || e.Hint != hint {
		t.Errorf("%s:\n got key %q msg %q hint %q\nwant key %q msg %q hint %q", what, e.Key, e.Msg, e.Hint, key, msg, hint)
	}
}

func TestCheckInput(t *testing.T) {
	num := record.Type{Kind: record.Int}
	dbl := record.Type{Kind: record.Float}
	str := record.Type{Kind: record.String}
	boo := record.Type{Kind: record.Bool}
	ts := record.Type{Kind: record.Timestamp}
	dyn := record.Type{Kind: record.Any}
	null := record.Type{Kind: record.Null}
	list := func(e *record.Type) record.Type { return record.Type{Kind: record.Array, Elem: e} }
	for _, tc := range []struct {
		f         Func
		t         record.Type
		msg, hint string // "" when valid
	}{
		{Sum, num, "", ""},
		{Sum, dbl, "", ""},
		{Sum, dyn, "", ""},
		{Sum, str, "SUM aggregates numbers; agg_expr is string", "parse it with cast_double(x)"},
		{Avg, boo, "AVG aggregates numbers; agg_expr is bool", "convert it with if_else(c, 1, 0)"},
		{Max, ts, "MAX aggregates numbers; agg_expr is timestamp", "convert it with unix_millis(ts)"},
		{Min, list(&dbl), "MIN aggregates numbers; agg_expr is array<float>", "the POOLING functions aggregate lists element-wise"},
		{Sum, null, "agg_expr is always null, so SUM would always be null", ""},
		{Count, null, "", ""},
		{Count, str, "", ""},
		{Count, list(nil), "", ""},
		{Latest, list(&str), "", ""},
		{Latest, record.Type{Kind: record.Map}, "", ""},
		{CountDistinct, str, "", ""},
		{CountDistinct, ts, "", ""},
		{CountDistinct, list(&num), "COUNT_DISTINCT aggregates scalars; agg_expr is array<int>", "count one field of it, or a string made of it"},
		{MaxPooling, list(&dbl), "", ""},
		{MinPooling, list(&num), "", ""},
		{AvgPooling, list(nil), "", ""},
		{AvgPooling, list(&dyn), "", ""},
		{AvgPooling, dyn, "", ""},
		{MaxPooling, dbl, "MAX_POOLING aggregates lists of numbers; agg_expr is float", "use MAX for a scalar"},
		{AvgPooling, num, "AVG_POOLING aggregates lists of numbers; agg_expr is int", "use AVG for a scalar"},
		{MinPooling, list(&str), "MIN_POOLING aggregates lists of numbers; agg_expr is array<string>", ""},
	} {
		err := tc.f.CheckInput(tc.t)
		what := tc.f.String() + " over " + tc.t.String()
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
			continue
		}
		checkError(t, what, err, "agg_expr", tc.msg, tc.hint)
	}
}

func TestCheckType(t *testing.T) {
	scalars := []feature.Type{feature.Int32, feature.Int64, feature.Float, feature.Double}
	vectors := []feature.Type{feature.FloatVector, feature.DoubleVector, feature.Int32Vector, feature.Int64Vector}
	ok := map[Func][]feature.Type{
		Count: scalars, CountDistinct: scalars, Sum: scalars, Min: scalars, Max: scalars,
		Avg:        {feature.Float, feature.Double},
		Latest:     feature.Types(),
		MaxPooling: vectors, MinPooling: vectors,
		AvgPooling: {feature.FloatVector, feature.DoubleVector},
	}
	for _, f := range Funcs() {
		for _, ty := range feature.Types() {
			err := f.CheckType(ty)
			want := false
			for _, o := range ok[f] {
				want = want || o == ty
			}
			if (err == nil) != want {
				t.Errorf("%v as %v: %v, want ok=%t", f, ty, err, want)
			}
		}
	}
	checkError(t, "AVG as INT32", Avg.CheckType(feature.Int32), "type", "AVG cannot be stored as INT32",
		"AVG's value is a double: declare FLOAT or DOUBLE")
	checkError(t, "SUM as STRING", Sum.CheckType(feature.String), "type", "SUM cannot be stored as STRING",
		"declare INT32, INT64, FLOAT or DOUBLE")
	checkError(t, "AVG_POOLING as INT64_VECTOR", AvgPooling.CheckType(feature.Int64Vector), "type",
		"AVG_POOLING cannot be stored as INT64_VECTOR", "AVG_POOLING's elements are doubles: declare FLOAT_VECTOR or DOUBLE_VECTOR")
	checkError(t, "MAX_POOLING as DOUBLE", MaxPooling.CheckType(feature.Double), "type",
		"MAX_POOLING cannot be stored as DOUBLE", "declare FLOAT_VECTOR, DOUBLE_VECTOR, INT32_VECTOR or INT64_VECTOR")
}

func TestCheckFilter(t *testing.T) {
	for _, tc := range []struct {
		t         record.Type
		msg, hint string
	}{
		{record.Type{Kind: record.Bool}, "", ""},
		{record.Type{Kind: record.Bool, Nullable: true}, "", ""},
		{record.Type{Kind: record.Any}, "", ""},
		{record.Type{Kind: record.Int}, "filter must be boolean, not int", "compare it, e.g. x > 0"},
		{record.Type{Kind: record.Null}, "filter must be boolean, not null", "a null filter lets no event through"},
	} {
		err := CheckFilter(tc.t)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.t, err)
			}
			continue
		}
		checkError(t, tc.t.String(), err, "filter", tc.msg, tc.hint)
	}
}
