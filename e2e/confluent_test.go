package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/feathrgo/feathr/internal/testenv"
)

// registry is a Confluent schema registry speaking the part of its REST
// API that readers use: GET /schemas/ids/{id}. It counts the requests for
// each path, and while down it answers 503 to all of them.
type registry struct {
	schemas map[int]string
	down    atomic.Bool // answer every request with 503, as in an outage

	mu   sync.Mutex
	hits map[string]int
}

// newRegistry starts a registry serving schemas by id, closed when the
// test ends, and returns it with its URL.
func newRegistry(t *testing.T, schemas map[int]string) (*registry, string) {
	t.Helper()
	reg := &registry{schemas: schemas, hits: map[string]int{}}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return reg, srv.URL
}

func (reg *registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reg.mu.Lock()
	reg.hits[r.Method+" "+r.URL.Path]++
	reg.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if reg.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error_code":50301,"message":"Service Unavailable"}`)
		return
	}
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/schemas/ids/"))
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/schemas/ids/") || err != nil {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":404,"message":"HTTP 404 Not Found"}`)
		return
	}
	s, ok := reg.schemas[id]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40403,"message":"Schema not found"}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"schema": s})
}

// requests returns how many requests each "METHOD path" received.
func (reg *registry) requests() map[string]int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	out := map[string]int{}
	for k, v := range reg.hits {
		out[k] = v
	}
	return out
}

// driverTripsV2Schema is a later version of DriverTrips: its fields in
// another order and one field that the reader's schema lacks.
const driverTripsV2Schema = `{"type": "record", "name": "DriverTrips", "fields": [
  {"name": "vehicle", "type": "string", "default": ""},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "trips_today", "type": "int"},
  {"name": "driver_id", "type": "long"}]}`

// tripV2 is one DriverTrips event of driverTripsV2Schema.
type tripV2 struct {
	trip
	Vehicle string `json:"vehicle"`
}

// TestConfluentFraming reads Confluent-framed Avro (magic byte 0, a 4-byte
// big-endian schema id, Avro binary) written by Python's confluent_kafka
// with two versions of the writer schema, resolved to the file's reader
// schema through a schema registry. A record with an unknown schema id is
// a record error that is skipped.
func TestConfluentFraming(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	requirePeers(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 2)
	group := "feathr-e2e-" + topic
	reg, url := newRegistry(t, map[int]string{7: driverTripsSchema, 8: driverTripsV2Schema})
	cfg := strings.Replace(seedConfig(brokers, topic, group, redisAddr),
		"    format: avro\n", fmt.Sprintf("    format: confluent\n    registry: {url: %q}\n", url), 1)
	file := writeFile(t, "features.yaml", cfg)
	if r := feathr(t, "", "validate", "-f", file); r.code != 0 {
		t.Fatalf("validate: %s", r)
	}

	v1 := makeTrips(20, 5, baseMicros)
	var v2 []tripV2
	for _, tr := range makeTrips(10, 5, baseMicros+3600e6) { // an hour later: newer
		tr.TripsToday += 100
		v2 = append(v2, tripV2{trip: tr, Vehicle: "car-" + strconv.FormatInt(tr.DriverID, 10)})
	}
	pyProduce(t, brokers, topic, driverTripsSchema, v1, "--key", "driver_id", "--schema-id", "7")
	pyProduce(t, brokers, topic, driverTripsV2Schema, v2, "--key", "driver_id", "--schema-id", "8")
	// A schema id the registry does not know: the record cannot be read.
	pyProduce(t, brokers, topic, driverTripsSchema, makeTrips(1, 1, baseMicros+7200e6), "--key", "driver_id", "--schema-id", "99")

	r := feathr(t, "", "materialize", "-f", file, "--start", "earliest", "--until-caught-up")
	checkSummary(t, r, wantSummary{read: 31, written: 30, errors: 1, stopped: "caught-up"})
	checkCommittedAtEnd(t, brokers, group, topic, 2, 31)

	var all []trip
	all = append(all, v1...)
	for _, e := range v2 {
		all = append(all, e.trip)
	}
	newest := newestTrips(all)
	want := map[string]map[string]any{}
	var keys []string
	for d, tr := range newest {
		k := strconv.FormatInt(d, 10)
		keys = append(keys, k)
		want[k] = map[string]any{"f_modified_streaming_count": tr.TripsToday + 1, "f_busy": tr.TripsToday > 10}
	}
	checkEqual(t, "multi-get", multiGet(t, redisAddr, seedTable, keys, []string{"f_modified_streaming_count", "f_busy"}), want)

	// Each schema is fetched once and cached; so is the unknown id's 404.
	checkEqual(t, "registry requests", reg.requests(), map[string]int{
		"GET /schemas/ids/7": 1, "GET /schemas/ids/8": 1, "GET /schemas/ids/99": 1,
	})
}
