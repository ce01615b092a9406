package e2e

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/internal/testenv"
)

// tripEventSchema has a field of each Avro type the features read.
const tripEventSchema = `{"type": "record", "name": "TripEvent", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "city", "type": "string"},
  {"name": "trips_today", "type": "int"},
  {"name": "distance", "type": "double"},
  {"name": "rating", "type": "float"},
  {"name": "vip", "type": "boolean"},
  {"name": "scores", "type": {"type": "array", "items": "double"}},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`

// tripEvent is one TripEvent, in the JSON form produce.py reads. Its
// floating-point values are exact in float32, so that every reader prints
// them alike.
type tripEvent struct {
	DriverID   int64     `json:"driver_id"`
	City       string    `json:"city"`
	TripsToday int32     `json:"trips_today"`
	Distance   float64   `json:"distance"`
	Rating     float32   `json:"rating"`
	VIP        bool      `json:"vip"`
	Scores     []float64 `json:"scores"`
	Datetime   int64     `json:"datetime"`
}

// typedFeature is a feature of every type, with the value it must have
// for an event.
type typedFeature struct {
	name, typ, transform string
	want                 func(e tripEvent) any
}

// typedFeatures covers the scalar and vector feature types.
var typedFeatures = []typedFeature{
	{"f_trips", "INT32", "trips_today + 1", func(e tripEvent) any { return e.TripsToday + 1 }},
	{"f_trips_big", "INT64", "trips_today * 10000000000", func(e tripEvent) any { return int64(e.TripsToday) * 10000000000 }},
	{"f_distance", "DOUBLE", "distance * 2.0", func(e tripEvent) any { return e.Distance * 2 }},
	{"f_rating", "FLOAT", "rating", func(e tripEvent) any { return e.Rating }},
	{"f_vip_busy", "BOOLEAN", "vip && trips_today > 5", func(e tripEvent) any { return e.VIP && e.TripsToday > 5 }},
	{"f_city", "STRING", "upper(city)", func(e tripEvent) any { return strings.ToUpper(e.City) }},
	{"f_city_bytes", "BYTES", "city", func(e tripEvent) any { return []byte(e.City) }},
	{"f_scores", "DOUBLE_VECTOR", "scores", func(e tripEvent) any { return e.Scores }},
	{"f_pair", "FLOAT_VECTOR", "[rating, distance]", func(e tripEvent) any { return []float32{e.Rating, float32(e.Distance)} }},
	{"f_counts", "INT64_VECTOR", "[trips_today, driver_id]", func(e tripEvent) any { return []int64{int64(e.TripsToday), e.DriverID} }},
	{"f_small", "INT32_VECTOR", "[trips_today, 7]", func(e tripEvent) any { return []int32{e.TripsToday, 7} }},
}

// typesConfig materializes typedFeatures under the composite key
// [driver_id, city].
func typesConfig(brokers, topic, group, redisAddr string) string {
	var feats, names strings.Builder
	for i, f := range typedFeatures {
		fmt.Fprintf(&feats, "      %s: {type: %s, transform: %q}\n", f.name, f.typ, f.transform)
		if i > 0 {
			names.WriteString(", ")
		}
		names.WriteString(f.name)
	}
	return fmt.Sprintf(`sources:
  trips:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: %q
      start: earliest
    schema: |
      %s
    timestamp: datetime
keys:
  driver_id: {column: driver_id, type: INT64}
  city: {column: city, type: STRING}
anchors:
  tripAnchor:
    source: trips
    key: [driver_id, city]
    features:
%sonline_store:
  redis: {addr: %q}
materializations:
  tripFeatures:
    sink: {redis: {table: tripFeatures}}
    features: [%s]
`, brokers, topic, group, strings.ReplaceAll(tripEventSchema, "\n", "\n      "), feats.String(), redisAddr, names.String())
}

// TestFeatureTypesCompositeKey produces TripEvents with Python's
// confluent_kafka and an Avro schemaless writer, materializes a feature of
// every type under a composite key until caught up, and reads the values
// back both with feathr get / multi-get and with read_features.py, which
// reads them as Feathr's Python client does (redis-py HMGET, base64,
// protobuf from our .proto compiled by protoc).
func TestFeatureTypesCompositeKey(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	requirePeers(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 2)
	cfg := writeFile(t, "features.yaml", typesConfig(brokers, topic, "feathr-e2e-"+topic, redisAddr))
	pbDir := compileProto(t)

	if r := feathr(t, "", "validate", "-f", cfg); r.code != 0 {
		t.Fatalf("validate: %s", r)
	}

	cities := []string{"Seattle", "New York"}
	var events []tripEvent
	for i := range 24 {
		events = append(events, tripEvent{
			DriverID:   int64(i%4 + 1),
			City:       cities[i/4%2],
			TripsToday: int32(i),
			Distance:   1.25 * float64(i),
			Rating:     float32(i%8) * 0.5,
			VIP:        i%3 == 0,
			Scores:     []float64{0.5 * float64(i), -2},
			Datetime:   baseMicros + int64(i)*1e6,
		})
	}
	pyProduce(t, brokers, topic, tripEventSchema, events, "--key", "driver_id")

	r := feathr(t, "", "materialize", "-f", cfg, "--until-caught-up")
	checkSummary(t, r, wantSummary{read: 24, written: 24, stopped: "caught-up"})

	newest := map[string]tripEvent{}
	for _, e := range events {
		k := strconv.FormatInt(e.DriverID, 10) + "#" + e.City
		if old, ok := newest[k]; !ok || e.Datetime > old.Datetime {
			newest[k] = e
		}
	}
	if len(newest) != 8 {
		t.Fatalf("%d keys, want 8", len(newest))
	}
	var names []string
	for _, f := range typedFeatures {
		names = append(names, f.name)
	}
	var keys []string
	var pyKeys []any
	want := map[string]map[string]any{}
	for k, e := range newest {
		keys = append(keys, k)
		pyKeys = append(pyKeys, []any{e.DriverID, e.City})
		want[k] = map[string]any{}
		for _, f := range typedFeatures {
			v := f.want(e)
			if b, ok := v.([]byte); ok {
				// A BYTES value is stored as a byte_array of one element,
				// which both Feathr's client and feathr get return as a
				// list (read_features.py and JSON print bytes in base64).
				v = []string{base64.StdEncoding.EncodeToString(b)}
			}
			want[k][f.name] = v
		}
	}

	for _, k := range keys[:2] {
		checkEqual(t, "feathr get "+k, getFeatures(t, redisAddr, "tripFeatures", k, names), want[k])
	}
	checkEqual(t, "feathr multi-get", multiGet(t, redisAddr, "tripFeatures", keys, names), want)
	checkEqual(t, "read_features.py", pyReadFeatures(t, pbDir, redisAddr, "tripFeatures", pyKeys, names), want)
}
