package e2e

import (
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestCommitAndResume checks the consumer-group facts on the real broker:
// a graceful stop, at --timeout or at SIGTERM, commits exactly what was
// read and written (the high watermark of every partition), and a restart
// reads only the events produced since, with nothing lost.
func TestCommitAndResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop string // how the first run ends: "timeout" or "signal"
	}{
		{"timeout", "timeout"},
		{"sigterm", "signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			brokers := testenv.Kafka(t)
			requirePeers(t)
			redisAddr := testenv.Redis(t)
			topic := testenv.TopicName(t)
			const partitions = 3
			testenv.CreateTopic(t, brokers, topic, partitions)
			group := "feathr-e2e-" + topic
			cfg := writeFile(t, "features.yaml", seedConfig(brokers, topic, group, redisAddr))
			features := []string{"f_modified_streaming_count", "f_busy"}

			first := makeTrips(30, 10, baseMicros)
			pyProduce(t, brokers, topic, driverTripsSchema, first, "--key", "driver_id")

			var r result
			switch tt.stop {
			case "timeout":
				r = feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--timeout", "6s")
			case "signal":
				p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "2m")
				waitForValues(t, redisAddr, first, features)
				p.signal(t, syscall.SIGTERM)
				r = p.wait(t, 30*time.Second)
			}
			checkSummary(t, r, wantSummary{read: 30, written: 30, stopped: tt.stop})
			checkCommittedAtEnd(t, brokers, group, topic, partitions, 30)

			// A restart reads only what came since, even with --start
			// earliest: committed offsets win.
			second := makeTrips(12, 10, baseMicros+60e6)
			for i := range second {
				second[i].TripsToday += 50
			}
			pyProduce(t, brokers, topic, driverTripsSchema, second, "--key", "driver_id")
			r = feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
			checkSummary(t, r, wantSummary{read: 12, written: 12, stopped: "caught-up"})
			checkCommittedAtEnd(t, brokers, group, topic, partitions, 42)
			checkEqual(t, "values after restart", readValues(t, redisAddr, append(first, second...), features), expectedValues(append(first, second...)))

			// Nothing new: nothing read again.
			r = feathr(t, "", "materialize", "-f", cfg, "--until-caught-up")
			checkSummary(t, r, wantSummary{read: 0, written: 0, stopped: "caught-up"})
			checkCommittedAtEnd(t, brokers, group, topic, partitions, 42)
		})
	}
}

// expectedValues returns the seed features each driver's newest event
// gives, as feathr multi-get prints them.
func expectedValues(trips []trip) map[string]map[string]any {
	want := map[string]map[string]any{}
	for d, tr := range newestTrips(trips) {
		want[strconv.FormatInt(d, 10)] = map[string]any{"f_modified_streaming_count": tr.TripsToday + 1, "f_busy": tr.TripsToday > 10}
	}
	return want
}

// readValues reads the features of the drivers of trips with feathr
// multi-get.
func readValues(t *testing.T, redisAddr string, trips []trip, features []string) map[string]map[string]any {
	t.Helper()
	var keys []string
	for d := range newestTrips(trips) {
		keys = append(keys, strconv.FormatInt(d, 10))
	}
	return multiGet(t, redisAddr, seedTable, keys, features)
}

// waitForValues polls Redis until it holds the features of trips, failing
// the test after 30 seconds.
func waitForValues(t *testing.T, redisAddr string, trips []trip, features []string) {
	t.Helper()
	want := jsonForm(t, expectedValues(trips))
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := jsonForm(t, readValues(t, redisAddr, trips, features))
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis does not hold the expected values after 30s: got %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
