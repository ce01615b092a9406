package decode

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/record"
)

func TestParseAvroSchemaTypes(t *testing.T) {
	s, err := ParseAvroSchema(`{"type":"record","name":"R","namespace":"a.b","fields":[
		{"name":"id","type":"long"},
		{"name":"tags","type":{"type":"array","items":"string"}},
		{"name":"attrs","type":["null",{"type":"map","values":["null","double"]}],"default":null},
		{"name":"loc","type":{"type":"record","name":"Loc","fields":[{"name":"lat","type":"double"}]}},
		{"name":"loc2","type":"Loc"},
		{"name":"loc3","type":"a.b.Loc"},
		{"name":"ts","type":["null",{"type":"long","logicalType":"timestamp-millis"}]}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range s.Fields {
		got = append(got, f.Name+":"+f.Type.String())
	}
	want := "id:int tags:array<string> attrs:map<float?>? loc:map<any> loc2:map<any> loc3:map<any> ts:timestamp?"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("fields = %s\nwant     %s", g, want)
	}
	loc, _ := s.Field("loc")
	if !reflect.DeepEqual(loc.Type.Fields, []record.Field{{Name: "lat", Type: record.Type{Kind: record.Float}}}) {
		t.Errorf("loc fields = %+v", loc.Type.Fields)
	}
}

func TestParseAvroSchemaErrors(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		offset int // -1: any
		substr string
	}{
		{"empty", ``, 0, "end of JSON"},
		{"trailing comma", `{"type":"record",}`, 17, "invalid character '}'"},
		{"missing colon", `{"type" "record"}`, 8, "':'"},
		{"bad literal", `{"type":"record","name":tru}`, 24, "value"},
		{"unterminated string", `{"type":"rec`, 12, "end of JSON"},
		{"trailing data", `{"type":"long"} x`, 16, "after top-level"},
		{"control character", "{\"type\":\"a\nb\"}", 10, "control character"},
		{"unknown type", `{"type":"record","name":"R","fields":[{"name":"a","type":"lnog"}]}`, 57, `unknown type "lnog"`},
		{"not a record", `{"type":"long"}`, 0, "must be a record"},
		{"no fields", `{"type":"record","name":"R"}`, 0, "fields"},
		{"duplicate field", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`, 72, "twice"},
		{"bad field name", `{"type":"record","name":"R","fields":[{"name":"1a","type":"int"}]}`, 38, "name"},
		{"bad default", `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`, 73, "invalid default"},
		{"int default overflow", `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]}`, 73, "overflows"},
		{"nested union", `{"type":"record","name":"R","fields":[{"name":"a","type":["null",["int"]]}]}`, 65, "union"},
		{"duplicate union branch", `{"type":"record","name":"R","fields":[{"name":"a","type":["int","int"]}]}`, 64, "twice"},
		{"bad enum default", `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["A"],"default":"B"}}]}`, 109, "default"},
		{"decimal without precision", `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"bytes","logicalType":"decimal"}}]}`, 57, "precision"},
		{"redefined name", `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"R","size":1}}]}`, 80, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAvroSchema(tt.schema)
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SchemaError", err)
			}
			if tt.offset >= 0 && se.Offset != tt.offset {
				at := ""
				if se.Offset >= 0 && se.Offset <= len(tt.schema) {
					at = tt.schema[se.Offset:]
				}
				t.Errorf("offset = %d (at %q), want %d: %v", se.Offset, at, tt.offset, err)
			}
			if !strings.Contains(se.Msg, tt.substr) {
				t.Errorf("message %q does not mention %q", se.Msg, tt.substr)
			}
		})
	}
}

func TestParseAvroSchemaDeepNesting(t *testing.T) {
	s := strings.Repeat("[", 10000)
	if _, err := ParseAvroSchema(s); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Errorf("error = %v, want a nesting error", err)
	}
}

func TestSchemaDefaults(t *testing.T) {
	// Defaults are exercised through a Confluent reader elsewhere; here
	// check their normalised values directly.
	tr, err := parseAvro(`{"type":"record","name":"R","fields":[
		{"name":"i","type":"int","default":3},
		{"name":"f","type":"float","default":1},
		{"name":"b","type":"bytes","default":"\u00ffA"},
		{"name":"u","type":["long","null"],"default":5},
		{"name":"n","type":["null","long"],"default":null},
		{"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
		{"name":"r","type":{"type":"record","name":"In","fields":[{"name":"x","type":"string","default":"d"}]},"default":{}},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"},"default":1000}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, f := range tr.fields {
		got[f.name] = f.def
	}
	want := "map[a:[1 2] b:[255 65] f:1 i:3 n:<nil> r:map[x:d] ts:1970-01-01 00:00:01 +0000 UTC u:5]"
	if g := strings.ReplaceAll(fmtValue(got), "\n", ""); g != want {
		t.Errorf("defaults = %s\nwant       %s", g, want)
	}
}
