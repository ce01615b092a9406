package config

import (
	"os"
	"reflect"
	"testing"
	"time"
)

const examplePath = "../features.example.yaml"

// TestExample checks that the repository's example loads without errors
// and says what the seed's example says.
func TestExample(t *testing.T) {
	f, err := Load(examplePath, env(nil))
	if err != nil {
		t.Fatalf("%s:\n%v", examplePath, err)
	}
	s := f.Source("kafkaStreamingSource")
	if s == nil || !reflect.DeepEqual(s.Kafka.Brokers, []string{"localhost:9092"}) ||
		!reflect.DeepEqual(s.Kafka.Topics, []string{"driver-trips"}) || s.Format != FormatAvro ||
		s.Timestamp != "datetime" || s.Kafka.Start != StartLatest {
		t.Fatalf("source: %+v", s)
	}
	const schema = `{
    "type": "record",
    "name": "DriverTrips",
    "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "trips_today", "type": "int"},
        {
        "name": "datetime",
        "type": {"type": "long", "logicalType": "timestamp-micros"}
        }
    ]
}
`
	if s.Schema != schema {
		t.Errorf("schema:\n%s", s.Schema)
	}
	if k := f.Key("driver_id"); k == nil || k.Type.String() != "INT64" || k.Column != "driver_id" {
		t.Errorf("key: %+v", k)
	}
	a := f.Anchor("kafkaAnchor")
	if a == nil || a.Source != "kafkaStreamingSource" || !reflect.DeepEqual(a.Key, []string{"driver_id"}) {
		t.Fatalf("anchor: %+v", a)
	}
	for name, want := range map[string][2]string{
		"f_modified_streaming_count":  {"INT32", "trips_today + 1"},
		"f_modified_streaming_count2": {"INT32", "trips_today + randn() * cos(trips_today)"},
		"f_trips_today_is_busy":       {"BOOLEAN", "trips_today > 10"},
	} {
		if ft := f.Feature(name); ft == nil || ft.Type.String() != want[0] || ft.Transform != want[1] || ft.Anchor != a {
			t.Errorf("feature %s: %+v", name, ft)
		}
	}
	if r := f.OnlineStore.Redis; r.Addr != "localhost:6379" {
		t.Errorf("redis: %+v", r)
	}
	m := f.Materialization("kafkaSampleDemo")
	if m == nil || m.Sink.Table != "kafkaSampleDemoFeature" || m.Timeout != 10*time.Second ||
		len(m.Features) < 2 || m.Features[0] != "f_modified_streaming_count" || m.Features[1] != "f_modified_streaming_count2" {
		t.Fatalf("materialization: %+v", m)
	}
	for _, name := range m.Features {
		if f.Feature(name) == nil {
			t.Errorf("materialized feature %s is not defined", name)
		}
	}
}

// TestExampleSecretsFromEnvironment checks the commented Event Hubs
// connection of the example, uncommented.
func TestExampleSecretsFromEnvironment(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	src = replaceOnce(t, src, "# security:", "security:")
	for _, line := range []string{"protocol: SASL_SSL", "mechanism: PLAIN", `username: "$ConnectionString"`, `password: "${EVENTHUB_CONN}"`} {
		src = replaceOnce(t, src, "#   "+line, "  "+line)
	}
	f, err := Parse(examplePath, []byte(src), env(map[string]string{"EVENTHUB_CONN": "Endpoint=sb://x/"}))
	if err != nil {
		t.Fatal(err)
	}
	if sec := f.Sources[0].Kafka.Security; sec.Username != "$ConnectionString" || sec.Password != "Endpoint=sb://x/" || sec.Mechanism != MechanismPlain {
		t.Errorf("security: %+v", sec)
	}
	_, err = Parse(examplePath, []byte(src), env(nil))
	if err == nil {
		t.Error("EVENTHUB_CONN unset: no error")
	}
}
