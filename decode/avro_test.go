package decode

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/record"
	"github.com/linkedin/goavro/v2"
)

const driverTrips = `{
    "type": "record",
    "name": "DriverTrips",
    "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "trips_today", "type": "int"},
        {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}
    ]
}`

// oneField returns a record schema with one field "v" of the given type.
func oneField(typ string) string {
	return `{"type":"record","name":"R","namespace":"ns","fields":[{"name":"v","type":` + typ + `}]}`
}

// encode encodes native with goavro, the reference encoder.
func encode(t testing.TB, schema string, native map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("goavro.NewCodec: %v", err)
	}
	b, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("goavro.BinaryFromNative(%v): %v", native, err)
	}
	return b
}

func mustAvro(t testing.TB, schema string, lim Limits) Decoder {
	t.Helper()
	d, err := NewAvro(schema, lim)
	if err != nil {
		t.Fatalf("NewAvro: %v", err)
	}
	return d
}

func TestAvroTypes(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456000, time.UTC)
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	tests := []struct {
		name   string
		typ    string
		native any // goavro's input for field v
		want   any
		rtype  string // record.Type.String() of the field
	}{
		{"null", `"null"`, nil, nil, "null"},
		{"boolean true", `"boolean"`, true, true, "bool"},
		{"boolean false", `"boolean"`, false, false, "bool"},
		{"int", `"int"`, int32(-123456), int64(-123456), "int"},
		{"int max", `"int"`, int32(math.MaxInt32), int64(math.MaxInt32), "int"},
		{"long", `"long"`, int64(math.MinInt64), int64(math.MinInt64), "int"},
		{"float", `"float"`, float32(1.5), 1.5, "float"},
		{"double", `"double"`, math.Pi, math.Pi, "float"},
		{"string", `"string"`, "héllo", "héllo", "string"},
		{"empty string", `"string"`, "", "", "string"},
		{"bytes", `"bytes"`, []byte{0, 1, 0xff}, []byte{0, 1, 0xff}, "bytes"},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, "C", "C", "string"},
		{"fixed", `{"type":"fixed","name":"F","size":3}`, []byte("abc"), []byte("abc"), "bytes"},
		{"nullable null first, null", `["null","long"]`, nil, nil, "int?"},
		{"nullable null first, value", `["null","long"]`, goavro.Union("long", int64(7)), int64(7), "int?"},
		{"nullable null last, null", `["long","null"]`, nil, nil, "int?"},
		{"nullable null last, value", `["long","null"]`, goavro.Union("long", int64(-7)), int64(-7), "int?"},
		{"nullable string", `["null","string"]`, goavro.Union("string", "x"), "x", "string?"},
		{"nullable record", `["null",{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}]`,
			goavro.Union("ns.In", map[string]any{"a": int32(1)}), map[string]any{"a": int64(1)}, "map<any>?"},
		{"multi union string", `["string","long","null"]`, goavro.Union("string", "s"), "s", "any?"},
		{"multi union long", `["string","long"]`, goavro.Union("long", int64(9)), int64(9), "any"},
		{"union same kind", `["int","long"]`, goavro.Union("int", int32(3)), int64(3), "int"},
		{"array", `{"type":"array","items":"int"}`, []any{int32(1), int32(2)}, []any{int64(1), int64(2)}, "array<int>"},
		{"empty array", `{"type":"array","items":"int"}`, []any{}, []any{}, "array<int>"},
		{"array of nullable", `{"type":"array","items":["null","double"]}`,
			[]any{nil, goavro.Union("double", 2.5)}, []any{nil, 2.5}, "array<float?>"},
		{"map", `{"type":"map","values":"string"}`, map[string]any{"a": "x", "b": "y"},
			map[string]any{"a": "x", "b": "y"}, "map<string>"},
		{"empty map", `{"type":"map","values":"long"}`, map[string]any{}, map[string]any{}, "map<int>"},
		{"nested record", `{"type":"record","name":"In","fields":[{"name":"a","type":"int"},{"name":"b","type":{"type":"array","items":{"type":"map","values":"float"}}}]}`,
			map[string]any{"a": int32(1), "b": []any{map[string]any{"k": float32(0.5)}}},
			map[string]any{"a": int64(1), "b": []any{map[string]any{"k": 0.5}}}, "map<any>"},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), "timestamp"},
		{"date before epoch", `{"type":"int","logicalType":"date"}`, int32(-1),
			time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), "timestamp"},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, ts, ts.Truncate(time.Millisecond), "timestamp"},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, ts, ts, "timestamp"},
		{"timestamp-micros negative", `{"type":"long","logicalType":"timestamp-micros"}`, int64(-1),
			time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), "timestamp"},
		{"timestamp-nanos", `{"type":"long","logicalType":"timestamp-nanos"}`, ts.UnixNano(), ts, "timestamp"},
		{"local-timestamp-millis", `{"type":"long","logicalType":"local-timestamp-millis"}`, ts.UnixMilli(), ts.Truncate(time.Millisecond), "timestamp"},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, ts.UnixMicro(), ts, "timestamp"},
		{"nullable timestamp", `["null",{"type":"long","logicalType":"timestamp-millis"}]`,
			goavro.Union("long.timestamp-millis", ts), ts.Truncate(time.Millisecond), "timestamp?"},
		{"time-millis is int", `{"type":"int","logicalType":"time-millis"}`, 1500 * time.Millisecond, int64(1500), "int"},
		{"time-micros is int", `{"type":"long","logicalType":"time-micros"}`, 1500 * time.Microsecond, int64(1500), "int"},
		{"decimal bytes", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, rat("-123.45"), -123.45, "float"},
		{"decimal bytes big", `{"type":"bytes","logicalType":"decimal","precision":30,"scale":3}`, rat("123456789012345678.5"), 123456789012345678.5, "float"},
		{"decimal fixed", `{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":4}`, rat("3.1416"), 3.1416, "float"},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, "0b8f6d0e-3c5a-4e5c-9e55-3c2b1f0f7a10", "0b8f6d0e-3c5a-4e5c-9e55-3c2b1f0f7a10", "string"},
		{"unknown logical type", `{"type":"string","logicalType":"zipcode"}`, "94043", "94043", "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema := oneField(tt.typ)
			d := mustAvro(t, schema, Limits{})
			b := encode(t, schema, map[string]any{"v": tt.native})
			got, err := d.Decode(b)
			if err != nil {
				t.Fatalf("Decode(% x): %v", b, err)
			}
			want := record.Record{"v": tt.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode = %#v, want %#v", got, want)
			}
			if s := d.Schema().Fields[0].Type.String(); s != tt.rtype {
				t.Errorf("Schema type = %s, want %s", s, tt.rtype)
			}
		})
	}
}

func TestAvroBytesDoNotAliasInput(t *testing.T) {
	schema := oneField(`"bytes"`)
	b := encode(t, schema, map[string]any{"v": []byte("abc")})
	rec, err := mustAvro(t, schema, Limits{}).Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if got := rec["v"].([]byte); string(got) != "abc" {
		t.Errorf("value changed with the input buffer: %q", got)
	}
}

// TestDriverTripsHandEncoded checks the seed's record against byte strings
// written by hand from the Avro specification, independent of goavro.
func TestDriverTripsHandEncoded(t *testing.T) {
	d := mustAvro(t, driverTrips, Limits{})
	tests := []struct {
		name string
		in   []byte
		want record.Record
	}{
		{"zeros", []byte{0x00, 0x00, 0x00},
			record.Record{"driver_id": int64(0), "trips_today": int64(0), "datetime": time.Unix(0, 0).UTC()}},
		// zig-zag: 1 -> 0x02, -1 -> 0x01, 300 -> 600 = 0xd8 0x04, 64 -> 128 = 0x80 0x01.
		{"small", []byte{0x02, 0x01, 0x80, 0x01},
			record.Record{"driver_id": int64(1), "trips_today": int64(-1), "datetime": time.UnixMicro(64).UTC()}},
		{"multi-byte", []byte{0xd8, 0x04, 0xd8, 0x04, 0x01},
			record.Record{"driver_id": int64(300), "trips_today": int64(300), "datetime": time.UnixMicro(-1).UTC()}},
		// max int64 -> zig-zag 0xffff_ffff_ffff_fffe: 9 bytes of 0xff/0xfe then 0x01.
		{"max long", []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00},
			record.Record{"driver_id": int64(math.MaxInt64), "trips_today": int64(0), "datetime": time.Unix(0, 0).UTC()}},
		// 1700000000123456 µs = 2023-11-14T22:13:20.123456Z; zig-zag 3400000000246912.
		{"real timestamp", append([]byte{0x0e, 0x0a}, uvarint(3400000000246912)...),
			record.Record{"driver_id": int64(7), "trips_today": int64(5), "datetime": time.Date(2023, 11, 14, 22, 13, 20, 123456000, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode(tt.in)
			if err != nil {
				t.Fatalf("Decode(% x): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(% x) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	want := "driver_id int, trips_today int, datetime timestamp"
	var parts []string
	for _, f := range d.Schema().Fields {
		parts = append(parts, f.Name+" "+f.Type.String())
	}
	if got := strings.Join(parts, ", "); got != want {
		t.Errorf("Schema = %s, want %s", got, want)
	}
}

// uvarint writes an unsigned base-128 varint, little-endian groups.
func uvarint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestAvroErrors(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		lim    Limits
		in     []byte
		want   error
		substr string
	}{
		{"empty", driverTrips, Limits{}, nil, ErrTruncated, "driver_id"},
		{"truncated varint", driverTrips, Limits{}, []byte{0x02, 0x80}, ErrTruncated, "trips_today"},
		{"missing field", driverTrips, Limits{}, []byte{0x02, 0x02}, ErrTruncated, "datetime"},
		{"trailing byte", driverTrips, Limits{}, []byte{0x02, 0x02, 0x02, 0x00}, ErrTrailingData, "1 bytes"},
		{"varint too long", driverTrips, Limits{}, bytes.Repeat([]byte{0xff}, 11), ErrMalformed, "varint"},
		{"varint overflows", driverTrips, Limits{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed, "overflows"},
		{"int overflows", driverTrips, Limits{}, append([]byte{0x02}, uvarint(1<<33)...), ErrMalformed, "32 bits"},
		{"too large", driverTrips, Limits{MaxBytes: 2}, []byte{0x02, 0x02, 0x02}, ErrTooLarge, "limit 2"},
		{"bad union index", oneField(`["null","long"]`), Limits{}, []byte{0x04, 0x02}, ErrMalformed, "union index 2"},
		{"negative union index", oneField(`["null","long"]`), Limits{}, []byte{0x01}, ErrMalformed, "union index -1"},
		{"bad boolean", oneField(`"boolean"`), Limits{}, []byte{0x02}, ErrMalformed, "boolean"},
		{"bad enum index", oneField(`{"type":"enum","name":"E","symbols":["A"]}`), Limits{}, []byte{0x02}, ErrMalformed, "enum index 1"},
		{"negative string length", oneField(`"string"`), Limits{}, []byte{0x01}, ErrMalformed, "negative"},
		{"huge string length", oneField(`"string"`), Limits{}, uvarint(1 << 62), ErrTruncated, "string"},
		{"short fixed", oneField(`{"type":"fixed","name":"F","size":4}`), Limits{}, []byte{1, 2}, ErrTruncated, "fixed"},
		{"short double", oneField(`"double"`), Limits{}, []byte{1, 2}, ErrTruncated, "double"},
		{"huge array count", oneField(`{"type":"array","items":"null"}`), Limits{}, uvarint(1 << 41), ErrTooLarge, "items"},
		{"huge negative-block array", oneField(`{"type":"array","items":"long"}`), Limits{}, append(uvarint(1<<41-1), 0x00), ErrTooLarge, "items"},
		{"huge map count", oneField(`{"type":"map","values":"null"}`), Limits{}, uvarint(1 << 41), ErrTooLarge, "items"},
		{"array claims more than present", oneField(`{"type":"array","items":"long"}`), Limits{}, []byte{0x7e, 0x02}, ErrTruncated, "[1]"},
		{"unterminated array", oneField(`{"type":"array","items":"long"}`), Limits{}, []byte{0x02, 0x02}, ErrTruncated, "varint"},
		{"nested field path", oneField(`{"type":"record","name":"In","fields":[{"name":"a","type":{"type":"map","values":"int"}}]}`),
			Limits{}, []byte{0x02, 0x02, 'k', 0x80}, ErrTruncated, `v: a: ["k"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustAvro(t, tt.schema, tt.lim).Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(% x) error = %v, want %v", tt.in, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error %q does not mention %q", err, tt.substr)
			}
		})
	}
}

// TestAvroEveryPrefixFails checks that no strict prefix of a valid message
// decodes.
func TestAvroEveryPrefixFails(t *testing.T) {
	schema := oneField(`{"type":"record","name":"In","fields":[
		{"name":"s","type":"string"},{"name":"a","type":{"type":"array","items":["null","long"]}},
		{"name":"m","type":{"type":"map","values":"double"}},{"name":"f","type":{"type":"fixed","name":"F","size":2}}]}`)
	b := encode(t, schema, map[string]any{"v": map[string]any{
		"s": "hello", "a": []any{nil, goavro.Union("long", int64(1000))},
		"m": map[string]any{"x": 1.0}, "f": []byte("ab"),
	}})
	d := mustAvro(t, schema, Limits{})
	if _, err := d.Decode(b); err != nil {
		t.Fatalf("full message: %v", err)
	}
	for i := range len(b) {
		if _, err := d.Decode(b[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix of %d bytes: error %v, want ErrTruncated", i, err)
		}
	}
}

const linkedList = `{"type":"record","name":"Node","fields":[
	{"name":"value","type":"long"},
	{"name":"next","type":["null","Node"],"default":null}]}`

func TestAvroRecursiveSchema(t *testing.T) {
	list := func(n int) map[string]any {
		var next any
		for i := n; i > 0; i-- {
			node := map[string]any{"value": int64(i), "next": next}
			next = goavro.Union("Node", node)
		}
		return map[string]any{"value": int64(0), "next": next}
	}
	d := mustAvro(t, linkedList, Limits{MaxDepth: 5})
	if ty := d.Schema().Fields[1].Type; ty.Kind != record.Map || !ty.Nullable || ty.Fields != nil { // recursion is cut
		t.Errorf("next type = %+v", ty)
	}
	rec, err := d.Decode(encode(t, linkedList, list(4)))
	if err != nil {
		t.Fatalf("depth 5: %v", err)
	}
	n := 0
	for m := map[string]any(rec); m != nil; n++ {
		m, _ = m["next"].(map[string]any)
	}
	if n != 5 {
		t.Errorf("list has %d nodes, want 5", n)
	}
	if _, err := d.Decode(encode(t, linkedList, list(5))); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth 6: error %v, want ErrTooDeep", err)
	}
	// A crafted deep message: each level is value 0 and union branch 1.
	deep := bytes.Repeat([]byte{0x00, 0x02}, 100000)
	if _, err := mustAvro(t, linkedList, Limits{}).Decode(deep); !errors.Is(err, ErrTooDeep) {
		t.Errorf("crafted depth: error %v, want ErrTooDeep", err)
	}
}

func TestAvroHugeCountsAllocateLittle(t *testing.T) {
	d := mustAvro(t, oneField(`{"type":"array","items":"long"}`), Limits{})
	in := uvarint(2 * 1000000) // 1e6 items claimed (zig-zag), none present
	allocs := testing.AllocsPerRun(10, func() { _, _ = d.Decode(in) })
	if allocs > 20 {
		t.Errorf("%v allocations", allocs)
	}
	var ms1, ms2 runtimeMem
	ms1.read()
	_, err := d.Decode(in)
	ms2.read()
	if err == nil {
		t.Fatal("no error")
	}
	if grew := ms2.total - ms1.total; grew > 1<<20 {
		t.Errorf("decoding a 3-byte message allocated %d bytes", grew)
	}
}

func TestNewAvroSchemaErrors(t *testing.T) {
	for _, s := range []string{`"long"`, `{"type":"record","name":"R"}`, `{`, oneField(`"nope"`)} {
		if _, err := NewAvro(s, Limits{}); err == nil {
			t.Errorf("NewAvro(%s) succeeded", s)
		}
	}
}

func TestAvroConcurrent(t *testing.T) {
	d := mustAvro(t, driverTrips, Limits{})
	b := []byte{0x02, 0x04, 0x06}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				if r, err := d.Decode(b); err != nil || r["trips_today"] != int64(2) {
					t.Errorf("Decode = %v, %v", r, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func TestAvroDecodeReuse(t *testing.T) {
	schema := `{"type": "record", "name": "R", "fields": [
		{"name": "id", "type": "long"},
		{"name": "name", "type": ["null", "string"]},
		{"name": "tags", "type": {"type": "array", "items": "string"}},
		{"name": "inner", "type": {"type": "record", "name": "I", "fields": [{"name": "x", "type": "int"}]}}]}`
	d := mustAvro(t, schema, Limits{})
	msgs := [][]byte{
		encode(t, schema, map[string]any{"id": 1, "name": map[string]any{"string": "one"}, "tags": []any{"a"}, "inner": map[string]any{"x": 1}}),
		encode(t, schema, map[string]any{"id": 2, "name": nil, "tags": []any{}, "inner": map[string]any{"x": 2}}),
		{0x02}, // truncated: an error, and the next decode starts afresh
		encode(t, schema, map[string]any{"id": 3, "name": map[string]any{"string": "three"}, "tags": []any{"b", "c"}, "inner": map[string]any{"x": 3}}),
	}
	var reused record.Record
	for i, msg := range msgs {
		want, wantErr := d.Decode(msg)
		got, err := Reuse(d, msg, reused)
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d: Reuse = %v, %v; Decode = %v, %v", i, got, err, want, wantErr)
		}
		if err != nil {
			continue
		}
		if reused != nil && reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(reused).UnsafePointer() {
			t.Errorf("message %d: Reuse returned a new record", i)
		}
		reused = got
	}
}

func BenchmarkAvroDecode(b *testing.B) {
	d := mustAvro(b, driverTrips, Limits{})
	msg := encode(b, driverTrips, map[string]any{
		"driver_id": int64(123456789), "trips_today": int32(42),
		"datetime": time.Date(2024, 3, 5, 7, 8, 9, 123456000, time.UTC),
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := d.Decode(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// reuse decodes into the record of the previous message, as a
	// partition's goroutine does.
	b.Run("reuse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		var r record.Record
		for b.Loop() {
			var err error
			if r, err = Reuse(d, msg, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGoavroNativeFromBinary is goavro's decode of the same message,
// for comparison (without the normalisation pass it would also need).
func BenchmarkGoavroNativeFromBinary(b *testing.B) {
	c, err := goavro.NewCodec(driverTrips)
	if err != nil {
		b.Fatal(err)
	}
	msg := encode(b, driverTrips, map[string]any{
		"driver_id": int64(123456789), "trips_today": int32(42),
		"datetime": time.Date(2024, 3, 5, 7, 8, 9, 123456000, time.UTC),
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.NativeFromBinary(msg); err != nil {
			b.Fatal(err)
		}
	}
}
