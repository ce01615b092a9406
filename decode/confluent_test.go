package decode

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feathrgo/feathr/record"
	"github.com/linkedin/goavro/v2"
)

// fakeRegistry speaks the part of the Confluent schema registry REST API
// the decoder uses.
type fakeRegistry struct {
	mu       sync.Mutex // guards schemas after the server started
	schemas  map[int]string
	types    map[int]string // schemaType when not AVRO
	user     string
	pass     string
	delay    time.Duration
	requests atomic.Int64
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
			return
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/schemas/ids/")
	id, err := strconv.Atoi(rest)
	if !ok || err != nil || r.Method != http.MethodGet {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":404,"message":"HTTP 404 Not Found"}`))
		return
	}
	f.mu.Lock()
	s, ok := f.schemas[id]
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
		return
	}
	resp := map[string]any{"schema": s}
	if st := f.types[id]; st != "" {
		resp["schemaType"] = st
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func newFakeRegistry(t *testing.T, f *fakeRegistry) *Registry {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	reg, err := NewRegistry(srv.URL+"/", f.user, f.pass, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func frame(id int, avro []byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, avro...)
}

func mustConfluent(t *testing.T, reader string, reg *Registry) *Confluent {
	t.Helper()
	d, err := NewConfluent(reader, reg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConfluentSameSchemaAndCaching(t *testing.T) {
	f := &fakeRegistry{schemas: map[int]string{7: driverTrips}}
	reg := newFakeRegistry(t, f)
	d := mustConfluent(t, driverTrips, reg)
	msg := frame(7, []byte{0x02, 0x04, 0x06})
	want := record.Record{"driver_id": int64(1), "trips_today": int64(2), "datetime": time.UnixMicro(3).UTC()}
	for range 5 {
		got, err := d.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode = %v, want %v", got, want)
		}
	}
	// A second decoder sharing the registry reuses its cache.
	if _, err := mustConfluent(t, "", reg).Decode(msg); err != nil {
		t.Fatal(err)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d registry requests, want 1", n)
	}
}

func TestConfluentConcurrentLookupsShareOneRequest(t *testing.T) {
	f := &fakeRegistry{schemas: map[int]string{1: driverTrips}, delay: 50 * time.Millisecond}
	d := mustConfluent(t, driverTrips, newFakeRegistry(t, f))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := d.Decode(frame(1, []byte{0, 0, 0})); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d registry requests, want 1", n)
	}
}

func TestConfluentFramingAndRegistryErrors(t *testing.T) {
	f := &fakeRegistry{
		schemas: map[int]string{1: driverTrips, 2: `syntax = "proto3";`, 3: `{"type":"long"}`},
		types:   map[int]string{2: "PROTOBUF"},
	}
	reg := newFakeRegistry(t, f)
	d := mustConfluent(t, driverTrips, reg)
	tests := []struct {
		name   string
		in     []byte
		want   error // nil: any error
		substr string
	}{
		{"empty", nil, ErrBadFraming, "shorter"},
		{"short header", []byte{0, 0, 0, 1}, ErrBadFraming, "shorter"},
		{"bad magic byte", []byte{1, 0, 0, 0, 1, 0, 0, 0}, ErrBadFraming, "magic byte 0x1"},
		{"unknown id", frame(99, []byte{0, 0, 0}), ErrSchemaNotFound, "schema id 99: schema not found: Schema not found (HTTP 404, error_code 40403)"},
		{"protobuf schema", frame(2, nil), nil, "PROTOBUF is not supported"},
		{"non-record writer", frame(3, nil), nil, "must be a record"},
		{"truncated body", frame(1, []byte{0x02}), ErrTruncated, "schema id 1: trips_today"},
		{"trailing body", frame(1, []byte{0, 0, 0, 0}), ErrTrailingData, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(tt.in)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error %q does not mention %q", err, tt.substr)
			}
		})
	}
	// Unknown ids are remembered: no new request.
	before := f.requests.Load()
	if _, err := d.Decode(frame(99, nil)); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatal(err)
	}
	if n := f.requests.Load() - before; n != 0 {
		t.Errorf("unknown id looked up again (%d requests)", n)
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	const secret = "s3cr3t-p4ss"
	f := &fakeRegistry{schemas: map[int]string{1: driverTrips}, user: "u", pass: secret}
	srv := httptest.NewServer(f)
	defer srv.Close()

	good, _ := NewRegistry(srv.URL, "u", secret, nil)
	if s, err := good.Schema(context.Background(), 1); err != nil || s != driverTrips {
		t.Fatalf("Schema = %q, %v", s, err)
	}

	bad, _ := NewRegistry(srv.URL, "u", "wrong-"+secret, nil)
	_, err := bad.Schema(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "Unauthorized (HTTP 401") {
		t.Fatalf("error = %v, want 401", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q leaks the password", err)
	}
	// A failed lookup is not cached: fixing nothing, it is retried.
	before := f.requests.Load()
	_, _ = bad.Schema(context.Background(), 1)
	if f.requests.Load() == before {
		t.Error("a 401 was cached")
	}

	// Userinfo in the URL is redacted too.
	withURLPass, _ := NewRegistry("http://u:"+secret+"@127.0.0.1:1", "", "", nil)
	_, err = withURLPass.Schema(context.Background(), 1)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v: want an error without the password", err)
	}
}

func TestRegistryContext(t *testing.T) {
	f := &fakeRegistry{schemas: map[int]string{1: driverTrips}, delay: 200 * time.Millisecond}
	d := mustConfluent(t, driverTrips, newFakeRegistry(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := d.DecodeContext(ctx, frame(1, []byte{0, 0, 0})); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want DeadlineExceeded", err)
	}
	// The lookup continues in the background for other callers.
	if _, err := d.Decode(frame(1, []byte{0, 0, 0})); err != nil {
		t.Error(err)
	}
}

func TestNewRegistryBadURL(t *testing.T) {
	for _, u := range []string{"ftp://x", "://", "localhost:8081"} {
		if _, err := NewRegistry(u, "", "", nil); err == nil {
			t.Errorf("NewRegistry(%q) succeeded", u)
		}
	}
}

func TestConfluentSchemaResolution(t *testing.T) {
	const reader = `{"type":"record","name":"Trip","fields":[
		{"name":"driver_id","type":"long"},
		{"name":"trips","type":"double","aliases":["trips_today"]},
		{"name":"city","type":["null","string"]},
		{"name":"rating","type":"float","default":4.5},
		{"name":"kind","type":{"type":"enum","name":"K","symbols":["CAR","BIKE","OTHER"],"default":"OTHER"},"default":"CAR"},
		{"name":"note","type":"bytes","default":""},
		{"name":"tags","type":{"type":"array","items":"long"},"default":[]},
		{"name":"when","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}
	]}`
	const writerV2 = `{"type":"record","name":"Trip","fields":[
		{"name":"extra","type":{"type":"map","values":{"type":"array","items":"string"}}},
		{"name":"driver_id","type":"int"},
		{"name":"trips_today","type":"int"},
		{"name":"kind","type":{"type":"enum","name":"K","symbols":["CAR","TRUCK"]}},
		{"name":"note","type":"string"},
		{"name":"tags","type":{"type":"array","items":"int"}},
		{"name":"when","type":{"type":"long","logicalType":"timestamp-micros"}}
	]}`
	const writerNoDriver = `{"type":"record","name":"Trip","fields":[{"name":"trips_today","type":"int"}]}`
	const writerBadType = `{"type":"record","name":"Trip","fields":[{"name":"driver_id","type":"string"},{"name":"trips_today","type":"int"}]}`
	f := &fakeRegistry{schemas: map[int]string{1: writerV2, 2: writerNoDriver, 3: writerBadType}}
	d := mustConfluent(t, reader, newFakeRegistry(t, f))
	if !reflect.DeepEqual(d.Schema(), mustSchema(t, reader)) {
		t.Errorf("Schema() is not the reader schema")
	}

	when := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	enc := func(kind string) []byte {
		return frame(1, encode(t, writerV2, map[string]any{
			"extra": map[string]any{"a": []any{"x"}}, "driver_id": int32(9), "trips_today": int32(3),
			"kind": kind, "note": "hi", "tags": []any{int32(1)}, "when": when,
		}))
	}
	got, err := d.Decode(enc("CAR"))
	if err != nil {
		t.Fatal(err)
	}
	want := record.Record{
		"driver_id": int64(9), "trips": 3.0, "city": nil, "rating": 4.5, "kind": "CAR",
		"note": []byte("hi"), "tags": []any{int64(1)}, "when": when,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%#v\nwant\n%#v", got, want)
	}
	if got, err := d.Decode(enc("TRUCK")); err != nil || got["kind"] != "OTHER" {
		t.Errorf("unknown enum symbol: kind = %v, %v; want the reader's default OTHER", got["kind"], err)
	}

	_, err = d.Decode(frame(2, []byte{0x02}))
	if !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), `"driver_id" is not in the writer schema`) {
		t.Errorf("missing field: error %v", err)
	}
	_, err = d.Decode(frame(3, []byte{0x02, 'x', 0x02}))
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "string cannot be read as long") {
		t.Errorf("incompatible field: error %v", err)
	}
}

func TestConfluentWriterUnionToReader(t *testing.T) {
	const reader = `{"type":"record","name":"R","fields":[{"name":"v","type":"long"}]}`
	const writer = `{"type":"record","name":"R","fields":[{"name":"v","type":["null","int"]}]}`
	d := mustConfluent(t, reader, newFakeRegistry(t, &fakeRegistry{schemas: map[int]string{1: writer}}))
	if got, err := d.Decode(frame(1, []byte{0x02, 0x08})); err != nil || got["v"] != int64(4) {
		t.Errorf("Decode = %v, %v", got, err)
	}
	if _, err := d.Decode(frame(1, []byte{0x00})); !errors.Is(err, ErrMismatch) {
		t.Errorf("null into long: error %v, want ErrMismatch", err)
	}
}

func TestConfluentWithoutReaderSchema(t *testing.T) {
	const writer = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":["null","long"]}]}`
	d := mustConfluent(t, "", newFakeRegistry(t, &fakeRegistry{schemas: map[int]string{5: writer}}))
	if len(d.Schema().Fields) != 0 {
		t.Errorf("Schema = %+v, want no fields", d.Schema())
	}
	b := encode(t, writer, map[string]any{"a": "x", "b": goavro.Union("long", int64(3))})
	got, err := d.Decode(frame(5, b))
	if err != nil || !reflect.DeepEqual(got, record.Record{"a": "x", "b": int64(3)}) {
		t.Errorf("Decode = %v, %v", got, err)
	}
}

func mustSchema(t *testing.T, s string) record.Schema {
	t.Helper()
	sc, err := ParseAvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestRegistryErrorKinds checks that each registry failure says what kind
// it is: an outage (retry later), a refusal (the credentials), or a
// definitive "not found", which is remembered only for NotFoundFor.
func TestRegistryErrorKinds(t *testing.T) {
	status := func(code int, body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // refuses connections from now on
	for _, tt := range []struct {
		name string
		url  string
		want error
	}{
		{"503", status(http.StatusServiceUnavailable, `{"error_code":50301,"message":"Service Unavailable"}`).URL, ErrRegistryUnavailable},
		{"500", status(http.StatusInternalServerError, "oops").URL, ErrRegistryUnavailable},
		{"429", status(http.StatusTooManyRequests, "").URL, ErrRegistryUnavailable},
		{"a proxy's page", status(http.StatusOK, "<html>maintenance</html>").URL, ErrRegistryUnavailable},
		{"connection refused", closed.URL, ErrRegistryUnavailable},
		{"401", status(http.StatusUnauthorized, `{"error_code":401,"message":"Unauthorized"}`).URL, ErrRegistryRefused},
		{"403", status(http.StatusForbidden, "").URL, ErrRegistryRefused},
		{"404", status(http.StatusNotFound, `{"error_code":40403,"message":"Schema not found"}`).URL, ErrSchemaNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := NewRegistry(tt.url, "", "", &http.Client{Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = reg.Schema(context.Background(), 7)
			for _, kind := range []error{ErrRegistryUnavailable, ErrRegistryRefused, ErrSchemaNotFound} {
				if errors.Is(err, kind) != (kind == tt.want) {
					t.Errorf("error %v: errors.Is(%v) = %v", err, kind, !(kind == tt.want))
				}
			}
		})
	}

	t.Run("registered a moment later", func(t *testing.T) {
		f := &fakeRegistry{schemas: map[int]string{}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		reg, _ := NewRegistry(srv.URL, "", "", nil)
		reg.NotFoundFor = 50 * time.Millisecond
		if _, err := reg.Schema(context.Background(), 5); !errors.Is(err, ErrSchemaNotFound) {
			t.Fatalf("before: %v, want not found", err)
		}
		f.mu.Lock()
		f.schemas[5] = driverTrips // a producer registers it
		f.mu.Unlock()
		if _, err := reg.Schema(context.Background(), 5); !errors.Is(err, ErrSchemaNotFound) {
			t.Fatalf("at once: %v, want not found (remembered)", err)
		}
		time.Sleep(60 * time.Millisecond)
		if s, err := reg.Schema(context.Background(), 5); err != nil || s != driverTrips {
			t.Fatalf("after NotFoundFor: %q, %v; want the schema", s, err)
		}
	})
}
