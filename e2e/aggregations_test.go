package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/internal/aggtest"
	"github.com/feathrgo/feathr/internal/testenv"
)

// Sliding-window aggregations on the real broker, exactly once: events of
// every function (out of order, null, late, in the future) are produced
// while materialize runs; its Redis connections are killed with batches
// in flight (CLIENT KILL), it is killed with SIGKILL mid-stream and run
// again, and a second consumer group reads the same topic. Every
// aggregate, read by get and multi-get at several times, stored, and read
// by a Feathr-style Python reader, equals the brute-force reference.

// aggTable is the table of the aggregation tests.
const aggTable = "aggTrips"

func TestAggregationsExactlyOnce(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	const partitions, n = 3, 3000
	testenv.CreateTopic(t, brokers, topic, partitions)
	cfg := writeFile(t, "agg.yaml", aggtest.Config(brokers, topic, "feathr-e2e-agg-"+topic, redisAddr, "", aggTable))
	now := time.Now()
	evs := aggtest.Events(11, n, 40, now)
	ref := aggtest.NewReference(evs, now, time.Hour)

	p := startFeathr(t, "materialize", "-f", cfg, "--timeout", "3m")
	p.waitAssigned(t, 30*time.Second)
	produced := make(chan error, 1)
	go func() { produced <- produceAgg(brokers, topic, partitions, evs) }()

	// Kill the writer's connections while batches are in flight, then
	// the process itself.
	waitFor(t, 60*time.Second, "no aggregation written", func() bool { return dbSize(redisAddr) >= 20 })
	killed := 0
	for range 15 {
		k, err := redis.Int(redisDo(redisAddr, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
		if err == nil {
			killed += k
		}
		time.Sleep(40 * time.Millisecond)
	}
	if killed == 0 {
		t.Error("CLIENT KILL killed no connection")
	}
	p.signal(t, syscall.SIGKILL)
	<-p.done
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}

	r := feathr(t, "", "materialize", "-f", cfg, "--until-caught-up")
	if s := parseSummary(t, r); r.code != 0 || s.Stopped != "caught-up" {
		t.Fatalf("restart: %s", r)
	}
	checkAggregations(t, cfg, "redis://"+redisAddr, ref, now)

	// A second consumer group over the same topic: every event is a
	// duplicate.
	cfg2 := writeFile(t, "agg2.yaml", aggtest.Config(brokers, topic, "feathr-e2e-agg2-"+topic, redisAddr, "", aggTable))
	r = feathr(t, "", "materialize", "-f", cfg2, "--until-caught-up")
	var sum struct {
		Applied int64 `json:"agg_events_applied"`
		Dups    int64 `json:"agg_duplicates_skipped"`
	}
	decodeJSON(t, r.stdout, &sum)
	if r.code != 0 || sum.Applied != 0 || sum.Dups == 0 {
		t.Errorf("second group: %+v\n%s", sum, r)
	}
	checkAggregations(t, cfg, "redis://"+redisAddr, ref, now)

	// Feathr's Python client reads the stored fields: plain FeatureValues
	// of the declared types.
	requirePeers(t)
	var keys []any
	for _, d := range ref.Drivers() {
		keys = append(keys, d)
	}
	got := pyReadFeatures(t, compileProto(t), redisAddr, aggTable, keys, aggtest.Names())
	checkEqual(t, "Python reader", got, aggWant(ref, ref.Drivers(), time.Now()))
}

// produceAgg produces events to the partitions of topic in turn, with an
// idempotent producer (a retry writes no duplicate), in batches a few
// milliseconds apart so that they arrive while feathr writes.
func produceAgg(brokers, topic string, partitions int, evs []aggtest.Event) error {
	cfg := testenv.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer(strings.Split(brokers, ","), cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	var msgs []*sarama.ProducerMessage
	for i, e := range evs {
		v, err := e.Avro()
		if err != nil {
			return err
		}
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions), Value: sarama.ByteEncoder(v)})
		if len(msgs) == 100 || i == len(evs)-1 {
			if err := producer.SendMessages(msgs); err != nil {
				return err
			}
			msgs = msgs[:0]
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// aggWant is the reference's values of keys at T, as multi-get prints
// them.
func aggWant(ref *aggtest.Reference, keys []string, T time.Time) map[string]map[string]any {
	names := aggtest.Names()
	out := map[string]map[string]any{}
	for _, k := range keys {
		d, _ := strconv.ParseInt(k, 10, 64)
		row := map[string]any{}
		for i, v := range ref.Values(d, T) {
			row[names[i]] = v
		}
		out[k] = row
	}
	return out
}

// checkAggregations compares multi-get -f and get -f at several read
// times, and the stored fields, with ref.
func checkAggregations(t *testing.T, cfg, redisURL string, ref *aggtest.Reference, now time.Time) {
	t.Helper()
	names := strings.Join(aggtest.Names(), ",")
	drivers := ref.Drivers()
	for _, T := range []time.Time{now, now.Add(5 * time.Minute), now.Add(30 * time.Minute), now.Add(2 * time.Hour), now.Add(30 * time.Hour)} {
		at := strconv.FormatInt(T.UnixMilli(), 10)
		r := mustFeathr(t, strings.Join(drivers, "\n")+"\n", "multi-get", "-f", cfg, "--at", at, aggTable, "-", names)
		var got any
		decodeJSON(t, r.stdout, &got)
		want := aggWant(ref, drivers, T)
		checkEqual(t, fmt.Sprintf("multi-get at now+%v", T.Sub(now)), got, want)
		r = mustFeathr(t, "", "get", "-f", cfg, "--at", at, aggTable, drivers[0], names)
		decodeJSON(t, r.stdout, &got)
		checkEqual(t, fmt.Sprintf("get at now+%v", T.Sub(now)), got, want[drivers[0]])
	}
	// The stored fields: the values as of the last write, which no tile
	// boundary has passed since (the events are minutes away from one).
	r := mustFeathr(t, strings.Join(drivers, "\n")+"\n", "multi-get", "--redis", redisURL, aggTable, "-", names)
	var got any
	decodeJSON(t, r.stdout, &got)
	checkEqual(t, "stored fields", got, aggWant(ref, drivers, time.Now()))
}

// TestAggregationsRedisCluster materializes the aggregations into a real
// 3-master Redis Cluster and moves the slots of some drivers' keys (their
// hashes, states and HyperLogLogs) to another master while events keep
// arriving: every aggregate equals the reference.
func TestAggregationsRedisCluster(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rc := testenv.StartRedisCluster(t, 3)
	topic := testenv.TopicName(t)
	const partitions, n, drivers = 3, 1500, 60
	testenv.CreateTopic(t, brokers, topic, partitions)
	addrs := rc.Addrs()
	cfg := writeFile(t, "agg.yaml", aggtest.Config(brokers, topic, "feathr-e2e-aggc-"+topic, addrs[0], ", cluster: true", aggTable))
	now := time.Now()
	evs := aggtest.Events(12, n, drivers, now)
	ref := aggtest.NewReference(evs, now, time.Hour)
	if err := produceAgg(brokers, topic, partitions, evs[:n/3]); err != nil {
		t.Fatal(err)
	}
	p := startFeathr(t, "materialize", "-f", cfg, "--timeout", "3m")
	p.waitAssigned(t, 30*time.Second)

	owners := rc.Owners()
	var slots []int
	for d := 1; d <= drivers && len(slots) < 10; d++ {
		if s := redisc.Slot(aggTable + ":" + strconv.Itoa(d)); owners[s] == addrs[0] {
			slots = append(slots, s)
		}
	}
	produced := make(chan error, 1)
	go func() { produced <- produceAgg(brokers, topic, partitions, evs[n/3:]) }()
	for _, s := range slots {
		rc.MoveSlot(s, addrs[1])
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	p.signal(t, syscall.SIGTERM)
	if r := p.wait(t, 60*time.Second); r.code != 0 {
		t.Fatalf("materialize: %s", r)
	}
	// What the first run had not written yet (it stopped at the signal).
	if r := feathr(t, "", "materialize", "-f", cfg, "--until-caught-up"); r.code != 0 {
		t.Fatalf("catch up: %s", r)
	}
	rc.WaitAgreed()
	checkAggregations(t, cfg, "redis+cluster://"+addrs[2], ref, now)
}
