package cmd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// seedConfig is the seed's example with the given broker, topic and Redis.
func seedConfig(brokers, topic, redisAddr, extra string) string {
	return fmt.Sprintf(`sources:
  kafkaStreamingSource:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: feathr-test-%s
    format: avro
    schema: |
      {"type": "record", "name": "DriverTrips", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "trips_today", "type": "int"},
        {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}
    timestamp: datetime
keys:
  driver_id: {column: driver_id, type: INT64, full_name: nyc driver id, description: driver id}
anchors:
  kafkaAnchor:
    source: kafkaStreamingSource
    key: [driver_id]
    features:
      f_modified_streaming_count:  {type: INT32, transform: "trips_today + 1"}
      f_modified_streaming_count2: {type: INT32, transform: "trips_today + randn() * cos(trips_today)"}
      f_busy: {type: BOOLEAN, transform: "trips_today > 10"}
online_store:
  redis: {addr: %q}
materializations:
  kafkaSampleDemo:
    sink: {redis: {table: kafkaSampleDemoFeature%s}}
    features: [f_modified_streaming_count, f_modified_streaming_count2, f_busy]
    timeout: 10s
`, brokers, topic, topic, redisAddr, extra)
}

func TestMaterializeSeedScenario(t *testing.T) {
	redisAddr := testenv.Redis(t)
	topic := "driver-trips"
	brokers := testenv.KFake(t, 4, topic)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var trips []trip
	want := map[int64]int32{}
	for i := 0; i < 200; i++ {
		d := int64(i%20 + 1)
		tr := trip{driver: d, trips: int32(i), at: base.Add(time.Duration(i) * time.Second)}
		trips = append(trips, tr)
		want[d] = tr.trips + 1
	}
	produceTrips(t, brokers, topic, trips)
	cfg := writeFile(t, "features.yaml", seedConfig(brokers, topic, redisAddr, ""))

	ctx := context.Background()
	code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != 0 {
		t.Fatalf("materialize exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var sum struct {
		Read    int64  `json:"records_read"`
		Written int64  `json:"updates_written"`
		Stopped string `json:"stopped"`
		Keys    int64  `json:"keys_written"`
	}
	decodeJSON(t, out, &sum)
	if sum.Read != 200 || sum.Written != 200 || sum.Stopped != "caught-up" {
		t.Errorf("summary = %+v, want 200 read, 200 written, stopped caught-up\n%s", sum, out)
	}

	// get: the newest event of each driver wins.
	for d, w := range want {
		code, out, errOut := runCmd(t, ctx, "", nil, "get", "--redis", "redis://"+redisAddr, "kafkaSampleDemoFeature", fmt.Sprint(d), "f_modified_streaming_count,f_busy")
		if code != 0 {
			t.Fatalf("get exit %d: %s", code, errOut)
		}
		var got map[string]any
		decodeJSON(t, out, &got)
		if got["f_modified_streaming_count"] != float64(w) || got["f_busy"] != (w-1 > 10) {
			t.Errorf("driver %d: got %v, want f_modified_streaming_count=%d f_busy=%v", d, got, w, w-1 > 10)
		}
	}

	// multi-get, keys from stdin, with a missing key and a missing feature.
	code, out, errOut = runCmd(t, ctx, "1\n2\n999\n", map[string]string{"FEATHR_REDIS_URL": "redis://" + redisAddr},
		"multi-get", "kafkaSampleDemoFeature", "-", "f_modified_streaming_count", "no_such_feature")
	if code != 0 {
		t.Fatalf("multi-get exit %d: %s", code, errOut)
	}
	var multi map[string]map[string]any
	decodeJSON(t, out, &multi)
	if multi["1"]["f_modified_streaming_count"] != float64(want[1]) || multi["2"]["f_modified_streaming_count"] != float64(want[2]) {
		t.Errorf("multi-get = %v", multi)
	}
	if v, ok := multi["999"]["f_modified_streaming_count"]; !ok || v != nil {
		t.Errorf("missing key: got %v (present %v), want null", v, ok)
	}
	if v, ok := multi["1"]["no_such_feature"]; !ok || v != nil {
		t.Errorf("missing feature: got %v (present %v), want null", v, ok)
	}
	if !strings.HasPrefix(out, `{"1":{"f_modified_streaming_count":`) {
		t.Errorf("multi-get output does not keep the key and feature order: %s", out)
	}

	// The Redis layout is Feathr's: a hash per key, base64 protobuf values.
	conn, err := redis.Dial("tcp", redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	typ, _ := redis.String(conn.Do("TYPE", "kafkaSampleDemoFeature:1"))
	if typ != "hash" {
		t.Fatalf("TYPE = %q, want hash", typ)
	}
	n, _ := redis.Int(conn.Do("DBSIZE"))
	if n != 20 {
		t.Errorf("DBSIZE = %d, want 20 drivers", n)
	}
}

func TestMaterializeOlderEventDoesNotOverwrite(t *testing.T) {
	redisAddr := testenv.Redis(t)
	topic := "late"
	brokers := testenv.KFake(t, 1, topic)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	produceTrips(t, brokers, topic, []trip{
		{driver: 7, trips: 50, at: base.Add(time.Minute)},
		{driver: 7, trips: 3, at: base}, // late: older than the one before
	})
	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ""))
	ctx := context.Background()
	if code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	// A second run replays an even older event for the same key.
	produceTrips(t, brokers, topic, []trip{{driver: 7, trips: 1, at: base.Add(-time.Hour)}})
	if code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg, "--until-caught-up"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	_, out, _ := runCmd(t, ctx, "", nil, "get", "-f", cfg, "kafkaSampleDemoFeature", "7", "f_modified_streaming_count")
	if strings.TrimSpace(out) != `{"f_modified_streaming_count":51}` {
		t.Errorf("got %s, want the newer event's 51", out)
	}
	// With ordering: arrival the last event read wins.
	cfg2 := writeFile(t, "f2.yaml", strings.Replace(seedConfig(brokers, topic, redisAddr, ", ordering: arrival"), "feathr-test-late", "feathr-test-late-arrival", 1))
	if code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg2, "--start", "earliest", "--until-caught-up"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	_, out, _ = runCmd(t, ctx, "", nil, "get", "-f", cfg2, "kafkaSampleDemoFeature", "7", "f_modified_streaming_count")
	if strings.TrimSpace(out) != `{"f_modified_streaming_count":2}` {
		t.Errorf("arrival ordering: got %s, want the last event's 2", out)
	}
}
