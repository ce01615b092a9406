package cmd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// runSummary is the part of materialize's JSON summary the tests check.
type runSummary struct {
	Read         int64  `json:"records_read"`
	Written      int64  `json:"updates_written"`
	Skipped      int64  `json:"records_skipped"`
	Errors       int64  `json:"record_errors"`
	DeadLettered int64  `json:"records_dead_lettered"`
	Stopped      string `json:"stopped"`
	Error        string `json:"error"`
}

// materialize runs feathr materialize with args and returns its exit code,
// its summary and its stderr.
func materialize(t *testing.T, args ...string) (int, runSummary, string) {
	t.Helper()
	code, out, errOut := runCmd(t, context.Background(), "", nil, append([]string{"materialize"}, args...)...)
	var sum runSummary
	if out == "" {
		t.Fatalf("materialize printed no summary; exit %d\nstderr: %s", code, errOut)
	}
	decodeJSON(t, out, &sum)
	return code, sum, errOut
}

// mustMaterialize is materialize that fails the test on a non-zero exit.
func mustMaterialize(t *testing.T, args ...string) runSummary {
	t.Helper()
	code, sum, errOut := materialize(t, args...)
	if code != ExitOK {
		t.Fatalf("materialize %v: exit %d, summary %+v\nstderr: %s", args, code, sum, errOut)
	}
	return sum
}

// producer writes records to the partitions they name.
func producer(t *testing.T, brokers string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes recs synchronously.
func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// tripRecord is a DriverTrips event for partition p of topic.
func tripRecord(t *testing.T, topic string, p int32, tr trip) *kgo.Record {
	t.Helper()
	return &kgo.Record{Topic: topic, Partition: p, Value: avroBytes(t, driverTripsSchema,
		map[string]any{"driver_id": tr.driver, "trips_today": tr.trips, "datetime": tr.at})}
}

// avroBytes encodes v in schema, plain Avro binary.
func avroBytes(t *testing.T, schema string, v map[string]any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.BinaryFromNative(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// committedOffsets returns the offsets group committed for partitions
// 0..n-1 of topic (-1 for none).
func committedOffsets(t *testing.T, brokers, group, topic string, n int) []int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	parts := make([]int32, n)
	for i := range parts {
		parts[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if err != nil {
		t.Fatalf("list offsets of group %s: %v", group, err)
	}
	out := make([]int64, n)
	for i := range out {
		b := resp.GetBlock(topic, int32(i))
		if b == nil || b.Err != sarama.ErrNoError {
			t.Fatalf("offset of %s/%d: %v", topic, i, b)
		}
		out[i] = b.Offset
	}
	return out
}

// highWatermarks returns the high watermarks of partitions 0..n-1 of topic.
func highWatermarks(t *testing.T, brokers, topic string, n int) []int64 {
	t.Helper()
	client, err := sarama.NewClient(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := make([]int64, n)
	for i := range out {
		if out[i], err = client.GetOffset(topic, int32(i), sarama.OffsetNewest); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// redisConn connects to addr for the test.
func redisConn(t *testing.T, addr string) redis.Conn {
	t.Helper()
	c, err := redis.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dbSize(t *testing.T, c redis.Conn) int64 {
	t.Helper()
	n, err := redis.Int64(c.Do("DBSIZE"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readValue reads and decodes field of key; nil when it is not there.
func readValue(t *testing.T, c redis.Conn, key, field string) any {
	t.Helper()
	b, err := redis.Bytes(c.Do("HGET", key, field))
	if err == redis.ErrNil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	v, err := sink.DecodeValue(b)
	if err != nil {
		t.Fatalf("%s %s: %v", key, field, err)
	}
	return v
}

// TestMaterializeGracefulStopCommitsWhatWasWritten stops a run by its
// timeout while events keep arriving: in each partition, the committed
// offset must cover exactly the events whose keys are in Redis. A
// restart then resumes from there and catches up without loss.
func TestMaterializeGracefulStopCommitsWhatWasWritten(t *testing.T) {
	t.Parallel()
	const parts = 4
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, parts, topic)
	cl := producer(t, brokers)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	// Every event has its own driver, so that the keys in Redis tell
	// which events were written. drivers[p] lists partition p's in order.
	var mu sync.Mutex
	drivers := make([][]int64, parts)
	next := int64(1)
	produceBatch := func() {
		var recs []*kgo.Record
		mu.Lock()
		for range 40 {
			p := int32(next % parts)
			recs = append(recs, tripRecord(t, topic, p, trip{driver: next, trips: int32(next % 100), at: base}))
			drivers[p] = append(drivers[p], next)
			next++
		}
		mu.Unlock()
		produce(t, cl, recs...)
	}
	produceBatch()
	stop := make(chan struct{})
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				produceBatch()
			}
		}
	}()

	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ""))
	sum := mustMaterialize(t, "-f", cfg, "--start", "earliest", "--timeout", "3s")
	close(stop)
	<-producing
	if sum.Stopped != "timeout" {
		t.Errorf("stopped = %q, want timeout", sum.Stopped)
	}

	group := "feathr-test-" + topic
	committed := committedOffsets(t, brokers, group, topic, parts)
	c := redisConn(t, redisAddr)
	var total int64
	for p, off := range committed {
		if off <= 0 {
			t.Errorf("partition %d: committed %d, want progress in 3s", p, off)
			continue
		}
		total += off
		// Every event below the committed offset is in Redis; none after.
		for i, d := range drivers[p] {
			n, err := redis.Int(c.Do("EXISTS", fmt.Sprintf("kafkaSampleDemoFeature:%d", d)))
			if err != nil {
				t.Fatal(err)
			}
			if want := int(boolInt(int64(i) < off)); n != want {
				t.Errorf("partition %d offset %d (driver %d): in Redis %d, want %d (committed %d)", p, i, d, n, want, off)
				break
			}
		}
	}
	if n := dbSize(t, c); n != total || sum.Written != total {
		t.Errorf("committed offsets add up to %d; Redis has %d keys; summary says %d written", total, n, sum.Written)
	}
	if sum.Read < sum.Written || sum.Errors != 0 {
		t.Errorf("summary %+v: read fewer than written, or errors", sum)
	}

	// A restart reads exactly the rest, up to the high watermarks, which
	// it then commits.
	hwm := highWatermarks(t, brokers, topic, parts)
	t.Logf("stopped at committed offsets %v of %v; summary %+v", committed, hwm, sum)
	var all int64
	for _, h := range hwm {
		all += h
	}
	sum2 := mustMaterialize(t, "-f", cfg, "--until-caught-up")
	if sum2.Read != all-total || sum2.Written != all-total || sum2.Stopped != "caught-up" {
		t.Errorf("restart: summary %+v, want %d read and written (of %d), caught-up", sum2, all-total, all)
	}
	if got := committedOffsets(t, brokers, group, topic, parts); fmt.Sprint(got) != fmt.Sprint(hwm) {
		t.Errorf("after catching up: committed %v, want the high watermarks %v", got, hwm)
	}
	if n := dbSize(t, c); n != all {
		t.Errorf("Redis has %d keys, want all %d events'", n, all)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestMaterializeRestartResumes(t *testing.T) {
	t.Parallel()
	const parts, drivers = 2, 10
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, parts, topic)
	cl := producer(t, brokers)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	newest := map[int64]int32{}
	i := 0
	produceN := func(n int) {
		var recs []*kgo.Record
		for range n {
			d := int64(i%drivers + 1)
			tr := trip{driver: d, trips: int32(i), at: base.Add(time.Duration(i) * time.Second)}
			recs = append(recs, tripRecord(t, topic, int32(d%parts), tr))
			newest[d] = tr.trips
			i++
		}
		produce(t, cl, recs...)
	}
	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ""))

	produceN(50)
	if sum := mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up"); sum.Read != 50 || sum.Written != 50 {
		t.Fatalf("first run: %+v, want 50 read and written", sum)
	}
	produceN(30)
	sum := mustMaterialize(t, "-f", cfg, "--until-caught-up")
	if sum.Read != 30 || sum.Written != 30 || sum.Stopped != "caught-up" {
		t.Errorf("second run: %+v, want 30 read and written, caught-up", sum)
	}
	c := redisConn(t, redisAddr)
	for d, trips := range newest {
		if got := readValue(t, c, fmt.Sprintf("kafkaSampleDemoFeature:%d", d), "f_modified_streaming_count"); got != trips+1 {
			t.Errorf("driver %d: %v, want %d", d, got, trips+1)
		}
	}
	hwm := highWatermarks(t, brokers, topic, parts)
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, parts); fmt.Sprint(got) != fmt.Sprint(hwm) {
		t.Errorf("committed %v, want the high watermarks %v", got, hwm)
	}
	// Nothing new: a third run reads nothing and stops at once.
	if sum := mustMaterialize(t, "-f", cfg, "--until-caught-up"); sum.Read != 0 || sum.Stopped != "caught-up" {
		t.Errorf("third run: %+v, want nothing read, caught-up", sum)
	}
}

func TestMaterializeTTL(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	produceTrips(t, brokers, topic, []trip{{driver: 3, trips: 1, at: time.Now()}})
	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ", ttl: 60s"))
	mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	pttl, err := redis.Int64(redisConn(t, redisAddr).Do("PTTL", "kafkaSampleDemoFeature:3"))
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > 60000 {
		t.Errorf("PTTL = %d, want in (0, 60000]", pttl)
	}
}
