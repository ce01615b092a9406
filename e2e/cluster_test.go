package e2e

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/mna/redisc"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestRedisCluster materializes the seed's stream into a real 3-master
// Redis Cluster (online_store.redis.addrs), and moves slots that hold
// written keys from one master to another while events keep arriving:
// every driver ends with its newest event's features, read back with
// multi-get through a redis+cluster:// URL, and the offsets committed at
// SIGTERM cover every event.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rc := testenv.StartRedisCluster(t, 3)
	topic := testenv.TopicName(t)
	const partitions = 3
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	addrs := rc.Addrs()
	src := seedConfig(brokers, topic, group, "placeholder:1")
	src = strings.Replace(src, `redis: {addr: "placeholder:1"}`,
		fmt.Sprintf(`redis: {addrs: ["%s"]}`, strings.Join(addrs, `", "`)), 1)
	cfg := writeFile(t, "features.yaml", src)
	if r := feathr(t, "", "validate", "-f", cfg); r.code != 0 {
		t.Fatalf("validate: %s", r)
	}
	url := "redis+cluster://" + addrs[2]

	const drivers, n = 300, 900
	first := makeTrips(n, drivers, baseMicros)
	second := makeTrips(n, drivers, baseMicros+int64(time.Hour/time.Microsecond))
	for i := range second {
		second[i].TripsToday += 30
	}
	produce := newTripProducer(t, brokers, topic)
	produce(first)

	p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "2m")
	waitForClusterValues(t, url, first)

	// The slots of 30 drivers' keys on the first master go to the second
	// while the second half of the events streams in.
	owners := rc.Owners()
	var slots []int
	for d := 1; d <= drivers && len(slots) < 30; d++ {
		s := redisc.Slot(seedTable + ":" + strconv.Itoa(d))
		if owners[s] == addrs[0] {
			slots = append(slots, s)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < len(second); i += 30 {
			produce(second[i:min(i+30, len(second))])
			time.Sleep(5 * time.Millisecond)
		}
	})
	for _, s := range slots {
		rc.MoveSlot(s, addrs[1])
	}
	wg.Wait()

	all := append(first, second...)
	waitForClusterValues(t, url, all)
	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, 30*time.Second)
	checkSummary(t, r, wantSummary{read: 2 * n, written: 2 * n, stopped: "signal"})
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 2*n)

	owners = rc.Owners()
	for _, s := range slots {
		if owners[s] != addrs[1] {
			t.Errorf("slot %d is on %s, want %s", s, owners[s], addrs[1])
		}
	}
	if keys := rc.Keys(); len(keys) != drivers {
		t.Errorf("%d keys in the cluster, want one per driver (%d)", len(keys), drivers)
	}
}

// newTripProducer returns a function that produces DriverTrips events,
// plain Avro keyed by driver, with franz-go.
func newTripProducer(t *testing.T, brokers, topic string) func([]trip) {
	codec, err := goavro.NewCodec(driverTripsSchema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return func(trips []trip) {
		var recs []*kgo.Record
		for _, tr := range trips {
			b, err := codec.BinaryFromNative(nil, map[string]any{
				"driver_id": tr.DriverID, "trips_today": tr.TripsToday, "datetime": time.UnixMicro(tr.Datetime),
			})
			if err != nil {
				t.Error(err)
				return
			}
			recs = append(recs, &kgo.Record{Key: strconv.AppendInt(nil, tr.DriverID, 10), Value: b})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Errorf("produce: %v", err)
		}
	}
}

// waitForClusterValues polls the cluster with feathr multi-get until it
// holds the newest features of every driver of trips, failing the test
// after 60 seconds.
func waitForClusterValues(t *testing.T, url string, trips []trip) {
	t.Helper()
	var keys []string
	for d := range newestTrips(trips) {
		keys = append(keys, strconv.FormatInt(d, 10))
	}
	want := jsonForm(t, expectedValues(trips))
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := mustFeathr(t, strings.Join(keys, "\n"), "multi-get", "--redis", url, seedTable, "-", "f_modified_streaming_count,f_busy")
		var got map[string]map[string]any
		decodeJSON(t, r.stdout, &got)
		if reflect.DeepEqual(jsonForm(t, got), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster does not hold the expected values after 60s: got %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
