package decode

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/record"
)

func TestJSONSchemaless(t *testing.T) {
	d, err := NewJSON("", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Schema().Fields) != 0 {
		t.Errorf("Schema = %+v, want no fields", d.Schema())
	}
	got, err := d.Decode([]byte(`{"i": 42, "neg": -7, "f": 1.5, "e": 1e3, "big": 123456789012345678901234567890,
		"s": "x", "b": true, "n": null, "a": [1, 2.5, {"k": 3}], "o": {"p": [0]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := record.Record{
		"i": int64(42), "neg": int64(-7), "f": 1.5, "e": 1000.0, "big": 1.2345678901234568e29,
		"s": "x", "b": true, "n": nil,
		"a": []any{int64(1), 2.5, map[string]any{"k": int64(3)}},
		"o": map[string]any{"p": []any{int64(0)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %#v\nwant %#v", got, want)
	}
}

const jsonSchema = `{"type":"record","name":"E","fields":[
	{"name":"id","type":"long"},
	{"name":"n","type":"int","default":0},
	{"name":"score","type":["null","double"]},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
	{"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B"]},"default":"A"},
	{"name":"raw","type":["null","bytes"],"default":null},
	{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
	{"name":"m","type":{"type":"map","values":"float"},"default":{}},
	{"name":"in","type":["null",{"type":"record","name":"In","fields":[{"name":"x","type":"long"}]}],"default":null},
	{"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}],"default":null}
]}`

func TestJSONWithSchema(t *testing.T) {
	d, err := NewJSON(jsonSchema, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456000, time.UTC)
	tests := []struct {
		name string
		in   string
		want record.Record
	}{
		{"full", `{"id": 1, "n": 3.0, "score": 0.5, "ts": "2024-03-05T08:08:09.123456+01:00", "day": "2024-03-05",
			"kind": "B", "raw": "hi", "tags": ["a"], "m": {"k": 2}, "in": {"x": 1e2, "extra": true}, "price": "12.34", "unknown": 1}`,
			record.Record{"id": int64(1), "n": int64(3), "score": 0.5, "ts": ts, "day": time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC),
				"kind": "B", "raw": []byte("hi"), "tags": []any{"a"}, "m": map[string]any{"k": 2.0},
				"in": map[string]any{"x": int64(100)}, "price": 12.34}},
		{"defaults and nulls", `{"id": -5, "score": null, "ts": 1709622489123456, "n": null}`,
			record.Record{"id": int64(-5), "n": int64(0), "score": nil, "ts": ts, "day": nil, "kind": "A", "raw": nil,
				"tags": []any{}, "m": map[string]any{}, "in": nil, "price": nil}},
		{"timestamp without zone", `{"id": 1, "score": 1, "ts": "2024-03-05T07:08:09.123456"}`,
			record.Record{"id": int64(1), "n": int64(0), "score": 1.0, "ts": ts, "day": nil, "kind": "A", "raw": nil,
				"tags": []any{}, "m": map[string]any{}, "in": nil, "price": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
	if f, _ := d.Schema().Field("score"); f.Type.String() != "float?" {
		t.Errorf("score type = %s", f.Type)
	}
}

func TestJSONErrors(t *testing.T) {
	withSchema, err := NewJSON(jsonSchema, Limits{MaxDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	schemaless, _ := NewJSON("", Limits{MaxBytes: 64, MaxDepth: 3})
	tests := []struct {
		name   string
		d      Decoder
		in     string
		want   error
		substr string
	}{
		{"syntax", schemaless, `{"a":}`, ErrMalformed, "invalid character"},
		{"truncated", schemaless, `{"a":1`, ErrMalformed, "EOF"},
		{"not an object", schemaless, `[1]`, ErrMismatch, "not an object"},
		{"null message", schemaless, `null`, ErrMismatch, "null"},
		{"trailing data", schemaless, `{"a":1} {}`, ErrTrailingData, "byte"},
		{"too large", schemaless, `{"a":"` + strings.Repeat("x", 64) + `"}`, ErrTooLarge, "limit 64"},
		{"too deep", schemaless, `{"a":[[[1]]]}`, ErrTooDeep, "3 levels"},
		{"brackets in strings do not count", schemaless, `{"a":"[[[[\"[[["}`, nil, ""},
		{"missing field", withSchema, `{"ts": 1, "score": 1}`, ErrMissingField, `"id"`},
		{"missing non-nullable without default", withSchema, `{"id": 1, "score": 1}`, ErrMissingField, `"ts"`},
		{"string for long", withSchema, `{"id": "1", "ts": 1}`, ErrMismatch, `id: type mismatch: want long, have "1"`},
		{"fraction for long", withSchema, `{"id": 1.5, "ts": 1}`, ErrMismatch, "1.5 is not an integer"},
		{"int overflow", withSchema, `{"id": 1, "n": 3000000000, "ts": 1}`, ErrMismatch, "overflows"},
		{"null for long", withSchema, `{"id": null, "ts": 1}`, ErrMismatch, "have null"},
		{"bad timestamp", withSchema, `{"id": 1, "ts": "yesterday"}`, ErrMismatch, "RFC 3339"},
		{"bad enum", withSchema, `{"id": 1, "ts": 1, "kind": "C"}`, ErrMismatch, "symbol"},
		{"bad array element", withSchema, `{"id": 1, "ts": 1, "tags": ["a", 2]}`, ErrMismatch, "tags: [1]"},
		{"bad nested", withSchema, `{"id": 1, "ts": 1, "in": {"x": "y"}}`, ErrMismatch, "in: x"},
		{"nested missing", withSchema, `{"id": 1, "ts": 1, "in": {}}`, ErrMissingField, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.Decode([]byte(tt.in))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error %q does not mention %q", err, tt.substr)
			}
		})
	}
}
