package config

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// markerPos returns the 1-based line and column (in runes) of the first
// '@' in s, or 0, 0.
func markerPos(s string) (line, col int) {
	i := strings.IndexByte(s, '@')
	if i < 0 {
		return 0, 0
	}
	before := s[:i]
	line = 1 + strings.Count(before, "\n")
	col = 1 + utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:])
	return line, col
}

func TestTransformAt(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		start       Pos // TransformPos
	}{
		{"plain", "trips_today + @1", Pos{5, 39}},
		{"single-quoted", "'it''s a @'", Pos{5, 40}},
		{"double-quoted", `"x + @"`, Pos{5, 40}},
		{"double-quoted with escapes", `"a\"b\t\u00e9\x41 @"`, Pos{5, 40}},
		{"double-quoted over lines", "\"a +\n          b +\n\n          @\"", Pos{10, 21}},
		{"double-quoted escaped line break", "\"a +\\\n          @\"", Pos{10, 21}},
		{"plain over lines", "a +\n          b + @", Pos{10, 20}},
		{"literal block", "|\n          a +\n            b + @\n", Pos{11, 11}},
		{"literal block, blank first line", "|\n\n          a +\n          b + @\n", Pos{11, 11}},
		{"literal block, keep", "|+\n          a\n          @\n\n", Pos{11, 11}},
		{"folded block", ">\n          a +\n          b + @\n", Pos{11, 11}},
		{"folded block with a paragraph", ">-\n          a +\n\n          b + @\n", Pos{11, 11}},
		{"tagged", "!!str x + @", Pos{10, 26}},
		{"anchored and tagged", "&t !!str x + @", Pos{10, 29}},
		{"unicode", `"é → @"`, Pos{5, 40}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "sources: {s: {kafka: {brokers: [\"b:9092\"], topics: [t]}, format: json}}\nkeys: {k: {type: INT64}}\nanchors:\n  a: {source: s, key: k, features: {f1: {type: INT32, transform: x},\n        fx: {type: DOUBLE, transform: " + tt.value + "}}}\n"
			if strings.Contains(tt.value, "\n") || strings.HasPrefix(tt.value, "!") || strings.HasPrefix(tt.value, "&") {
				src = "sources: {s: {kafka: {brokers: [\"b:9092\"], topics: [t]}, format: json}}\nkeys: {k: {type: INT64}}\nanchors:\n  a:\n    source: s\n    key: k\n    features:\n      fx:\n        type: DOUBLE\n        transform: " + tt.value + "\n"
			}
			f := mustParse(t, src, nil)
			ft := f.Feature("fx")
			line, col := markerPos(ft.Transform)
			if line == 0 {
				t.Fatalf("no marker in transform %q", ft.Transform)
			}
			wl, wc := markerPos(src)
			if got := ft.TransformAt(line, col); got != (Pos{wl, wc}) {
				t.Errorf("TransformAt(%d, %d) = %v, want %d:%d (transform %q)", line, col, got, wl, wc, ft.Transform)
			}
			if got := ft.TransformAt(1, 1); got != ft.TransformPos {
				t.Errorf("TransformAt(1, 1) = %v, TransformPos = %v", got, ft.TransformPos)
			}
			if ft.TransformPos != tt.start {
				t.Errorf("TransformPos = %v, want %v", ft.TransformPos, tt.start)
			}
		})
	}
}

func TestTransformAtOutOfRange(t *testing.T) {
	f := mustParse(t, "sources: {s: {kafka: {brokers: [\"b:9092\"], topics: [t]}, format: json}}\nkeys: {k: {type: INT64}}\nanchors:\n  a:\n    source: s\n    key: k\n    features:\n      fx:\n        type: INT32\n        transform: |\n          a +\n          b\n", nil)
	ft := f.Feature("fx")
	for _, tt := range []struct {
		line, col int
		want      Pos
	}{
		{1, 1, Pos{11, 11}},
		{1, 4, Pos{11, 14}}, // the end of the line
		{1, 9, Pos{11, 19}}, // past it
		{2, 2, Pos{12, 12}},
		{0, 0, Pos{11, 11}},
		{-3, 2, Pos{11, 12}},
		{9, 1, Pos{13, 11}}, // past the last line: the last (empty) one
	} {
		if got := ft.TransformAt(tt.line, tt.col); got != tt.want {
			t.Errorf("TransformAt(%d, %d) = %v, want %v", tt.line, tt.col, got, tt.want)
		}
	}
}

func TestTransformAtWithoutFile(t *testing.T) {
	ft := &Feature{Name: "f", Pos: Pos{3, 5}, Transform: "a + b", TransformPos: Pos{3, 20}}
	if got := ft.TransformAt(1, 5); got != (Pos{3, 24}) {
		t.Errorf("line 1: %v", got)
	}
	if got := ft.TransformAt(2, 5); got != (Pos{4, 5}) {
		t.Errorf("line 2: %v", got)
	}
	ft.TransformPos = Pos{}
	if got := ft.TransformAt(1, 2); got != (Pos{3, 6}) {
		t.Errorf("no TransformPos: %v", got)
	}
}

func TestSchemaAt(t *testing.T) {
	src := yamlText(`
		sources:
		  s:
		    kafka: {brokers: ["b:9092"], topics: [t]}
		    schema: |
		      {
		        "type": "record",
		        "name": "@DriverTrips",
		        "fields": []
		      }
		  q:
		    kafka: {brokers: ["b:9092"], topics: [t]}
		    schema: '{"type": "@enum"}'
	`)
	f := mustParse(t, src, nil)
	s := f.Source("s")
	if s.SchemaPos != (Pos{5, 7}) {
		t.Errorf("SchemaPos = %v", s.SchemaPos)
	}
	line, col := markerPos(s.Schema)
	if got := s.SchemaAt(line, col); got != (Pos{7, 18}) {
		t.Errorf("SchemaAt(%d, %d) = %v, want 7:18", line, col, got)
	}
	if got := s.SchemaAtOffset(strings.IndexByte(s.Schema, '@')); got != (Pos{7, 18}) {
		t.Errorf("SchemaAtOffset = %v, want 7:18", got)
	}
	q := f.Source("q")
	line, col = markerPos(q.Schema)
	if got := q.SchemaAt(line, col); got != (Pos{12, 24}) {
		t.Errorf("quoted: SchemaAt(%d, %d) = %v, want 12:24", line, col, got)
	}
	if q.SchemaPos != (Pos{12, 14}) {
		t.Errorf("quoted: SchemaPos = %v", q.SchemaPos)
	}
}

func TestSourceNewLines(t *testing.T) {
	// The YAML scanner counts CR LF, CR, NEL, LS and PS as line breaks;
	// positions inside values must agree with it.
	for _, nl := range []string{"\n", "\r\n", "\r"} {
		src := strings.ReplaceAll("sources:\n  s:\n    kafka: {brokers: [\"b:9092\"], topics: [t]}\n    schema: |\n      {\"type\":\n        \"@x\"}\n", "\n", nl)
		f, errs := parseErrs(t, src, nil)
		if errs != nil {
			t.Fatalf("%q: %v", nl, errs)
		}
		s := f.Sources[0]
		line, col := markerPos(s.Schema)
		if got := s.SchemaAt(line, col); got != (Pos{6, 10}) {
			t.Errorf("%q: SchemaAt = %v, want 6:10", nl, got)
		}
	}
}
