package e2e

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
)

// seedTable is the Redis table of the seed's materialization.
const seedTable = "kafkaSampleDemoFeature"

// seedFeatures are the features the seed's materialization writes.
var seedFeatures = []string{"f_modified_streaming_count", "f_modified_streaming_count2", "f_busy"}

// seedConfig is the seed's example as a feathr file: the DriverTrips topic
// as plain Avro, starting at the latest offset, into Redis table
// kafkaSampleDemoFeature for 10 seconds.
func seedConfig(brokers, topic, group, redisAddr string) string {
	return fmt.Sprintf(`sources:
  kafkaStreamingSource:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: %q
    format: avro
    schema: |
      %s
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
    sink: {redis: {table: %s}}
    features: [%s]
    timeout: 10s
`, brokers, topic, group, strings.ReplaceAll(driverTripsSchema, "\n", "\n      "), redisAddr, seedTable, strings.Join(seedFeatures, ", "))
}

// checkSeedValues checks, with feathr get and feathr multi-get, that Redis
// holds the features of each driver's newest event.
func checkSeedValues(t *testing.T, redisAddr string, trips []trip) {
	t.Helper()
	newest := newestTrips(trips)
	var keys []string
	want := map[string]map[string]any{}
	for d := int64(1); d <= int64(len(newest)); d++ {
		tr := newest[d]
		k := strconv.FormatInt(d, 10)
		keys = append(keys, k)
		want[k] = map[string]any{"f_modified_streaming_count": tr.TripsToday + 1, "f_busy": tr.TripsToday > 10}

		got := getFeatures(t, redisAddr, seedTable, k, seedFeatures)
		// trips_today + randn() * cos(trips_today), cast to INT32, is
		// within a few units of trips_today.
		v2, ok := got["f_modified_streaming_count2"].(float64)
		if !ok || v2 != math.Trunc(v2) || math.Abs(v2-float64(tr.TripsToday)) > 10 {
			t.Errorf("driver %d: f_modified_streaming_count2 = %v, want an integer near %d", d, got["f_modified_streaming_count2"], tr.TripsToday)
		}
		delete(got, "f_modified_streaming_count2")
		checkEqual(t, "get driver "+k, got, want[k])
	}

	// multi-get with the keys on stdin, one key that is not there and one
	// feature that is not there.
	want["999"] = map[string]any{"f_modified_streaming_count": nil, "f_busy": nil, "no_such_feature": nil}
	for _, k := range keys {
		want[k]["no_such_feature"] = nil
	}
	got := multiGet(t, redisAddr, seedTable, append(keys, "999"), []string{"f_modified_streaming_count", "f_busy", "no_such_feature"})
	checkEqual(t, "multi-get", got, want)
}

// TestSeedStory is the seed page's story against the real broker, with
// kcat (librdkafka) as the producer: validate, then materialize for 10s
// from the latest offset while events arrive, then get and multi-get;
// then a new consumer group reads the topic again from the earliest offset
// until caught up, into a fresh Redis.
func TestSeedStory(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	requirePeers(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 3)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", seedConfig(brokers, topic, group, redisAddr))

	if r := feathr(t, "", "validate", "-f", cfg); r.code != 0 {
		t.Fatalf("validate: %s", r)
	}

	const n, drivers = 60, 12
	trips := makeTrips(n, drivers, baseMicros)
	files := avroFiles(t, driverTripsSchema, trips) // encoded before the clock starts

	p := startFeathr(t, "materialize", "-f", cfg, "--timeout", "10s")
	p.waitAssigned(t, 20*time.Second)
	kcatProduce(t, brokers, topic, 3, files)
	r := p.wait(t, time.Minute)
	checkSummary(t, r, wantSummary{read: n, written: n, stopped: "timeout"})
	checkSeedValues(t, redisAddr, trips)
	checkCommittedAtEnd(t, brokers, group, topic, 3, n)

	// -o table: a header, then one row per key in the order asked.
	tr := newestTrips(trips)
	r = mustFeathr(t, "", "multi-get", "-f", cfg, "-o", "table", seedTable, "3,1,404", "f_modified_streaming_count,f_busy")
	wantRows := [][]string{
		{"KEY", "f_modified_streaming_count", "f_busy"},
		{"3", fmt.Sprint(tr[3].TripsToday + 1), fmt.Sprint(tr[3].TripsToday > 10)},
		{"1", fmt.Sprint(tr[1].TripsToday + 1), fmt.Sprint(tr[1].TripsToday > 10)},
		{"404", "null", "null"},
	}
	var gotRows [][]string
	for _, line := range strings.Split(strings.TrimRight(r.stdout, "\n"), "\n") {
		gotRows = append(gotRows, strings.Fields(line))
	}
	checkEqual(t, "multi-get -o table", gotRows, wantRows)

	// A new group from the earliest offset reads all of it again.
	redis2 := testenv.Redis(t)
	cfg2 := writeFile(t, "replay.yaml", seedConfig(brokers, topic, group+"-replay", redisAddr))
	r = feathr(t, "", "materialize", "-f", cfg2, "--redis", "redis://"+redis2, "--start", "earliest", "--until-caught-up")
	checkSummary(t, r, wantSummary{read: n, written: n, stopped: "caught-up"})
	checkSeedValues(t, redis2, trips)
	checkCommittedAtEnd(t, brokers, group+"-replay", topic, 3, n)
}
