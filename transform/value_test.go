package transform

import (
	"reflect"
	"testing"
)

func TestCompileValue(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		expr string
		typ  string // ResultType
		want any
	}{
		{"trips_today", "int?", int64(7)},
		{"trips_today + 1", "int", int64(8)},
		{"cast_double(trips_today)", "float", 7.0},
		{"city", "string?", "Seattle"},
		{"trips_today > 3", "bool", true},
		{"fare", "float?", nil},
		{"datetime", "timestamp?", ts},
		{"scores", "array<float>?", []any{1.5, 2.5}},
		{"[trip_distance, rating]", "array<float>", []any{31.5, 4.5}},
		{"null", "null", nil},
	}
	var v Vars
	v.Reset(sample())
	for _, tt := range tests {
		p, err := e.CompileValue(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		// The checker loses nullability: compare the kinds.
		got := p.ResultType()
		got.Nullable = false
		if want := trimNullable(tt.typ); got.String() != want {
			t.Errorf("%s: type %s, want %s", tt.expr, got, want)
		}
		if p.Type() != 0 {
			t.Errorf("%s: declared type %v", tt.expr, p.Type())
		}
		val, err := p.Value(&v)
		if err != nil || !reflect.DeepEqual(val, tt.want) {
			t.Errorf("%s: %#v, %v; want %#v", tt.expr, val, err, tt.want)
		}
	}
	if _, err := e.CompileValue("nope + 1"); err == nil {
		t.Error("an undeclared reference compiled")
	}
}

func trimNullable(s string) string {
	if n := len(s); n > 0 && s[n-1] == '?' {
		return s[:n-1]
	}
	return s
}
