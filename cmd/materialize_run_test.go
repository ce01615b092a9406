package cmd

import (
	"context"
	"fmt"
	"net"
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

// cityTripsSchema has a composite key, driver and city.
const cityTripsSchema = `{"type": "record", "name": "CityTrips", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "city", "type": "string"},
  {"name": "trips", "type": "int"}]}`

func TestMaterializeCompositeKey(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	cfg := writeFile(t, "f.yaml", fmt.Sprintf(`sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: g-%s}
    schema: '%s'
keys:
  driver_id: {column: driver_id, type: INT64}
  city: {column: city, type: STRING}
anchors:
  a:
    source: s
    key: [driver_id, city]
    features:
      trips: {type: INT32}
online_store:
  redis: {addr: %q}
materializations:
  m:
    sink: {redis: {table: table}}
    features: [trips]
`, brokers, topic, topic, strings.ReplaceAll(cityTripsSchema, "\n", ""), redisAddr))
	cl := producer(t, brokers)
	produce(t, cl,
		&kgo.Record{Topic: topic, Value: avroBytes(t, cityTripsSchema, map[string]any{"driver_id": int64(7), "city": "Seattle", "trips": int32(4)})},
		&kgo.Record{Topic: topic, Value: avroBytes(t, cityTripsSchema, map[string]any{"driver_id": int64(7), "city": "Oslo", "trips": int32(9)})},
	)
	mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")

	c := redisConn(t, redisAddr)
	if got := readValue(t, c, "table:7#Seattle", "trips"); got != int32(4) {
		t.Errorf("table:7#Seattle trips = %v, want 4", got)
	}
	if n := dbSize(t, c); n != 2 {
		t.Errorf("DBSIZE = %d, want 2", n)
	}
	code, out, errOut := runCmd(t, context.Background(), "", nil, "get", "-f", cfg, "table", "7#Seattle", "trips")
	if code != ExitOK || out != `{"trips":4}`+"\n" {
		t.Errorf("get: exit %d, %q %s; want {\"trips\":4}", code, out, errOut)
	}
	code, out, errOut = runCmd(t, context.Background(), "", nil, "multi-get", "-f", cfg, "table", "7#Oslo,7#Seattle,8#Oslo", "trips")
	if want := `{"7#Oslo":{"trips":9},"7#Seattle":{"trips":4},"8#Oslo":{"trips":null}}` + "\n"; code != ExitOK || out != want {
		t.Errorf("multi-get: exit %d, %q %s; want %q", code, out, errOut, want)
	}
}

// allTypesSchema has a field of each Avro primitive type.
const allTypesSchema = `{"type": "record", "name": "All", "fields": [
  {"name": "id", "type": "string"},
  {"name": "i", "type": "int"},
  {"name": "l", "type": "long"},
  {"name": "f", "type": "float"},
  {"name": "d", "type": "double"},
  {"name": "b", "type": "boolean"},
  {"name": "s", "type": "string"}]}`

func TestMaterializeEveryFeatureType(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	features := []struct {
		name, typ, transform string
		stored               any    // as sink.DecodeValue returns it from Redis
		json                 string // as get prints it
	}{
		{"f_int32", "INT32", "i + 1", int32(-4), `-4`},
		{"f_int64", "INT64", "l * 2", int64(10_000_000_000), `10000000000`},
		{"f_float", "FLOAT", "f", float32(1.5), `1.5`},
		{"f_double", "DOUBLE", "d / 4.0", 0.625, `0.625`},
		{"f_bool", "BOOLEAN", "b && i < 0", true, `true`},
		{"f_string", "STRING", "upper(s)", "HÉLLO", `"HÉLLO"`},
		{"f_cast", "INT32", "d * 10.0", int32(25), `25`}, // cast to the declared type, toward zero
		{"f_double_vec", "DOUBLE_VECTOR", "[d, d * 2.0]", []float64{2.5, 5}, `[2.5,5]`},
		{"f_float_vec", "FLOAT_VECTOR", "[f, 0.25]", []float32{1.5, 0.25}, `[1.5,0.25]`},
		{"f_int_vec", "INT32_VECTOR", "[i, 7]", []int32{-5, 7}, `[-5,7]`},
		{"f_long_vec", "INT64_VECTOR", "[l, 1]", []int64{5_000_000_000, 1}, `[5000000000,1]`},
	}
	var defs, names []string
	for _, f := range features {
		defs = append(defs, fmt.Sprintf("      %s: {type: %s, transform: %q}", f.name, f.typ, f.transform))
		names = append(names, f.name)
	}
	cfg := writeFile(t, "f.yaml", fmt.Sprintf(`sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: g-%s}
    schema: '%s'
keys:
  id: {column: id, type: STRING}
anchors:
  a:
    source: s
    key: [id]
    features:
%s
online_store:
  redis: {addr: %q}
materializations:
  m:
    sink: {redis: {table: all}}
    features: [%s]
`, brokers, topic, topic, strings.ReplaceAll(allTypesSchema, "\n", ""), strings.Join(defs, "\n"), redisAddr, strings.Join(names, ", ")))
	cl := producer(t, brokers)
	produce(t, cl, &kgo.Record{Topic: topic, Value: avroBytes(t, allTypesSchema, map[string]any{
		"id": "e1", "i": int32(-5), "l": int64(5_000_000_000), "f": float32(1.5), "d": 2.5, "b": true, "s": "héllo",
	})})
	if sum := mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up"); sum.Written != 1 || sum.Errors != 0 {
		t.Fatalf("summary %+v, want 1 written", sum)
	}

	c := redisConn(t, redisAddr)
	var want strings.Builder
	want.WriteByte('{')
	for i, f := range features {
		if got := readValue(t, c, "all:e1", f.name); fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", f.stored, f.stored) {
			t.Errorf("%s in Redis = %T %v, want %T %v", f.name, got, got, f.stored, f.stored)
		}
		if i > 0 {
			want.WriteByte(',')
		}
		fmt.Fprintf(&want, "%q:%s", f.name, f.json)
	}
	want.WriteString("}\n")
	code, out, errOut := runCmd(t, context.Background(), "", nil, "get", "-f", cfg, "all", "e1", strings.Join(names, ","))
	if code != ExitOK || out != want.String() {
		t.Errorf("get: exit %d, stderr %s\n got %s\nwant %s", code, errOut, out, want.String())
	}
}

// badRecordTopic produces 10 events to one partition, of which offset 5
// cannot be decoded; the others are drivers 0 to 9 but 5.
func badRecordTopic(t *testing.T, brokers, topic string) {
	t.Helper()
	cl := producer(t, brokers)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 10 {
		if i == 5 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte{0xff, 0xff, 0xff}})
			continue
		}
		recs = append(recs, tripRecord(t, topic, 0, trip{driver: int64(i), trips: int32(i), at: base}))
	}
	produce(t, cl, recs...)
}

func TestMaterializeOnErrorStop(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	badRecordTopic(t, brokers, topic)
	cfg := writeFile(t, "f.yaml", strings.Replace(seedConfig(brokers, topic, redisAddr, ""),
		"    timeout: 10s\n", "    timeout: 10s\n    on_error: stop\n", 1))

	code, sum, errOut := materialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != ExitError {
		t.Errorf("exit %d, want 1\nstderr: %s", code, errOut)
	}
	wantErr := fmt.Sprintf("%s/0@5: decode: ", topic)
	if sum.Stopped != "error" || !strings.HasPrefix(sum.Error, wantErr) || sum.Errors != 1 || sum.Written != 5 {
		t.Errorf("summary %+v, want stopped error %q..., 1 record error, 5 written", sum, wantErr)
	}
	if !strings.Contains(errOut, "feathr: "+wantErr) {
		t.Errorf("stderr does not end with the error:\n%s", errOut)
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 5 {
		t.Errorf("committed offset %d, want 5: the bad record's", got[0])
	}
	c := redisConn(t, redisAddr)
	for i := range 10 {
		n, err := redis.Int(c.Do("EXISTS", fmt.Sprintf("kafkaSampleDemoFeature:%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if want := int(boolInt(i < 5)); n != want {
			t.Errorf("driver %d in Redis: %d, want %d", i, n, want)
		}
	}
	// A restart stops at the same record again, and writes nothing new.
	code, sum, _ = materialize(t, "-f", cfg, "--until-caught-up")
	if code != ExitError || sum.Read != 1 || sum.Written != 0 {
		t.Errorf("restart: exit %d, summary %+v; want 1, 1 read, 0 written", code, sum)
	}
}

func TestMaterializeOnErrorSkip(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	badRecordTopic(t, brokers, topic)
	cfg := writeFile(t, "f.yaml", strings.Replace(seedConfig(brokers, topic, redisAddr, ""),
		"    timeout: 10s\n", "    timeout: 10s\n    on_error: skip\n", 1))

	code, sum, errOut := materialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr: %s", code, errOut)
	}
	if sum.Read != 10 || sum.Written != 9 || sum.Errors != 1 || sum.Skipped != 1 || sum.Stopped != "caught-up" {
		t.Errorf("summary %+v, want 10 read, 9 written, 1 error, 1 skipped, caught-up", sum)
	}
	want := fmt.Sprintf(`msg="bad record skipped" topic=%s partition=0 offset=5 err="decode: `, topic)
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr does not contain %s:\n%s", want, errOut)
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 10 {
		t.Errorf("committed offset %d, want 10", got[0])
	}
	if n := dbSize(t, redisConn(t, redisAddr)); n != 9 {
		t.Errorf("DBSIZE = %d, want 9", n)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	c := redisConn(t, redisAddr)
	for _, kv := range []struct {
		key, field string
		v          any
	}{
		{"tbl:1", "a", int32(4)},
		{"tbl:1", "b", "x y"},
		{"tbl:2", "a", 0.5},
	} {
		b, err := sink.AppendValue(nil, kv.v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do("HSET", kv.key, kv.field, b); err != nil {
			t.Fatal(err)
		}
	}
	url := "redis://" + redisAddr
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
		err   string // a substring of stderr
	}{
		{name: "found", args: []string{"get", "tbl", "1", "a", "b"}, out: `{"a":4,"b":"x y"}` + "\n"},
		{name: "comma list, order kept", args: []string{"get", "tbl", "1", "b,a"}, out: `{"b":"x y","a":4}` + "\n"},
		{name: "missing feature", args: []string{"get", "tbl", "2", "a,b"}, out: `{"a":0.5,"b":null}` + "\n"},
		{name: "missing key", args: []string{"get", "tbl", "3", "a", "b"}, out: `{"a":null,"b":null}` + "\n"},
		{name: "missing table", args: []string{"get", "nope", "1", "a"}, out: `{"a":null}` + "\n"},
		{name: "multi-get", args: []string{"multi-get", "tbl", "3,2,1", "a,b"},
			out: `{"3":{"a":null,"b":null},"2":{"a":0.5,"b":null},"1":{"a":4,"b":"x y"}}` + "\n"},
		{name: "multi-get stdin", stdin: "2\n\n1\r\n", args: []string{"multi-get", "tbl", "-", "a"},
			out: `{"2":{"a":0.5},"1":{"a":4}}` + "\n"},
		{name: "table", args: []string{"get", "-o", "table", "tbl", "1", "a,b,c"},
			out: "KEY  a  b      c\n1    4  \"x y\"  null\n"},
		{name: "multi-get table", args: []string{"multi-get", "-o", "table", "tbl", "1,22", "a"},
			out: "KEY  a\n1    4\n22   null\n"},
		{name: "two args", args: []string{"get", "tbl", "1"}, code: ExitUsage, err: "requires at least 3 arg(s), only received 2"},
		{name: "no features", args: []string{"get", "tbl", "1", ",,"}, code: ExitUsage, err: "no features given"},
		{name: "bad output", args: []string{"get", "-o", "xml", "tbl", "1", "a"}, code: ExitUsage, err: `--output must be json or table, not "xml"`},
		{name: "multi-get one arg", args: []string{"multi-get", "tbl"}, code: ExitUsage, err: "Usage: feathr multi-get TABLE KEYS FEATURE..."},
		{name: "bad flag", args: []string{"get", "--nope", "tbl", "1", "a"}, code: ExitUsage, err: "unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{tt.args[0], "--redis", url}, tt.args[1:]...)
			code, out, errOut := runCmd(t, context.Background(), tt.stdin, nil, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, errOut)
			}
			if out != tt.out {
				t.Errorf("stdout:\n%q\nwant:\n%q", out, tt.out)
			}
			if tt.err != "" && !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.err)
			}
		})
	}
}

// TestMaterializeUnreachableRedis checks that materialize fails at start,
// with the address in the message, when Redis does not answer.
func TestMaterializeUnreachableRedis(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	secured := testenv.StartRedis(t, "--requirepass", "right")

	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	const badPassword = "pw-Zq81"
	tests := []struct {
		name, addr, password string
	}{
		{"connection refused", closedAddr, ""},
		{"no answer", silent.Addr().String(), ""},
		{"wrong password", secured.Addr(), badPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := seedConfig(brokers, topic, tt.addr, "")
			if tt.password != "" {
				src = strings.Replace(src, fmt.Sprintf("redis: {addr: %q}", tt.addr),
					fmt.Sprintf("redis: {addr: %q, password: %s}", tt.addr, tt.password), 1)
			}
			cfg := writeFile(t, "f.yaml", src)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg, "--start", "earliest")
			if ctx.Err() != nil {
				t.Fatalf("materialize did not give up within 15s")
			}
			if code != ExitError {
				t.Errorf("exit %d, want 1", code)
			}
			if want := "feathr: redis at " + tt.addr + ": "; !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting with %q", errOut, want)
			}
			if out != "" || strings.Contains(errOut, badPassword) {
				t.Errorf("stdout %q; stderr %q: want no summary and no password", out, errOut)
			}
		})
	}
}
