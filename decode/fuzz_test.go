package decode

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// fuzzLimits are small so that "bounded" is easy to check.
var fuzzLimits = Limits{MaxBytes: 4096, MaxDepth: 8}

// maxFuzzAlloc bounds the bytes one fuzzed Decode may allocate: items are
// capped at MaxBytes, each at most a few words, plus slack.
const maxFuzzAlloc = 8 << 20

const fuzzSchema = `{"type":"record","name":"F","fields":[
	{"name":"id","type":"long"},
	{"name":"n","type":"int"},
	{"name":"ok","type":"boolean"},
	{"name":"f","type":"float"},
	{"name":"d","type":["null","double"]},
	{"name":"s","type":"string"},
	{"name":"b","type":"bytes"},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
	{"name":"fx","type":{"type":"fixed","name":"FX","size":2}},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"day","type":{"type":"int","logicalType":"date"}},
	{"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}},
	{"name":"arr","type":{"type":"array","items":["null","string","long"]}},
	{"name":"m","type":{"type":"map","values":{"type":"array","items":"null"}}},
	{"name":"next","type":["null","F"]}
]}`

// checkAlloc runs fn and fails if it allocated more than maxFuzzAlloc.
func checkAlloc(t *testing.T, fn func()) {
	var before, after runtimeMem
	before.read()
	fn()
	after.read()
	if n := after.total - before.total; n > maxFuzzAlloc {
		t.Fatalf("allocated %d bytes", n)
	}
}

func FuzzAvro(f *testing.F) {
	d, err := NewAvro(fuzzSchema, fuzzLimits)
	if err != nil {
		f.Fatal(err)
	}
	codec, err := goavro.NewCodec(fuzzSchema)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range fuzzAvroSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		checkAlloc(t, func() { _, err = d.Decode(b) })
		if err != nil {
			return
		}
		// What decodes here is well-formed Avro: goavro must agree and
		// use every byte. (Only now is it safe to hand b to goavro.)
		_, rest, gerr := codec.NativeFromBinary(b)
		if gerr != nil || len(rest) != 0 {
			t.Fatalf("decoded, but goavro says %v with %d bytes left", gerr, len(rest))
		}
	})
}

func fuzzAvroSeeds(f *testing.F) [][]byte {
	one := map[string]any{
		"id": int64(-1), "n": int32(300), "ok": true, "f": float32(1.5), "d": goavro.Union("double", 2.5),
		"s": "héllo", "b": []byte{0, 0xff}, "e": "B", "fx": []byte("xy"),
		"ts": time.Unix(1700000000, 123000).UTC(), "day": int32(19000), "dec": mustRat("-12.34"),
		"arr": []any{nil, goavro.Union("string", "a"), goavro.Union("long", int64(5))},
		"m":   map[string]any{"k": []any{nil, nil}},
	}
	var seeds [][]byte
	c, _ := goavro.NewCodec(fuzzSchema)
	for depth := range 3 {
		rec := map[string]any{}
		for k, v := range one {
			rec[k] = v
		}
		rec["next"] = nil
		for range depth {
			inner := map[string]any{}
			for k, v := range rec {
				inner[k] = v
			}
			rec["next"] = goavro.Union("F", inner)
		}
		b, err := c.BinaryFromNative(nil, rec)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b, b[:len(b)/2], append(bytes.Clone(b), 0))
	}
	return append(seeds, nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
}

func FuzzJSON(f *testing.F) {
	schemaless, _ := NewJSON("", fuzzLimits)
	typed, err := NewJSON(jsonSchema, fuzzLimits)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{}`, `{"a":1,"b":[1.5,{"c":null}],"d":"x"}`, `{"id":1,"ts":"2024-01-01T00:00:00Z","score":null}`,
		`{"id":1e3,"ts":1,"score":2,"in":{"x":1},"m":{"a":1},"tags":["a"],"price":"1.5","raw":"x","day":"2024-01-02"}`,
		`[[[[[[[[[[[[]]]]]]]]]]]]`, `{"a":"\u00e9\"["}`, `{"a":1} x`, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAlloc(t, func() {
			_, _ = schemaless.Decode(b)
			_, _ = typed.Decode(b)
		})
	})
}

// memTransport serves HTTP requests with a handler, in memory.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	m.h.ServeHTTP(w, r)
	return w.Result(), nil
}

func FuzzConfluentFraming(f *testing.F) {
	const writer = `{"type":"record","name":"DriverTrips","fields":[
		{"name":"extra","type":{"type":"array","items":"string"}},
		{"name":"driver_id","type":["null","int"]},
		{"name":"trips_today","type":"int"}]}`
	fake := &fakeRegistry{
		schemas: map[int]string{1: driverTrips, 2: writer, 3: "x", 4: `{"type":"record","name":"X","fields":[]}`},
		types:   map[int]string{3: "PROTOBUF"},
	}
	reg, err := NewRegistry("http://registry.invalid", "u", "p", &http.Client{Transport: memTransport{fake}})
	if err != nil {
		f.Fatal(err)
	}
	const reader = `{"type":"record","name":"DriverTrips","fields":[
		{"name":"driver_id","type":["null","long"]},
		{"name":"trips_today","type":"double"},
		{"name":"datetime","type":["null",{"type":"long","logicalType":"timestamp-micros"}]}]}`
	d, err := NewConfluent(reader, reg, fuzzLimits)
	if err != nil {
		f.Fatal(err)
	}
	bare, _ := NewConfluent("", reg, fuzzLimits)
	for _, s := range [][]byte{
		frame(1, []byte{2, 4, 6}), frame(2, []byte{2, 2, 'a', 0, 2, 8, 4}), frame(3, nil), frame(4, nil),
		frame(99, nil), {1, 0, 0, 0, 1}, {0, 0}, nil,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		checkAlloc(t, func() {
			_, _ = d.DecodeContext(ctx, b)
			_, _ = bare.DecodeContext(ctx, b)
		})
	})
}
