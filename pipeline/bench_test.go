package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// benchYAML is the seed's DriverTrips materialization: three features of
// one key, each record one update of three fields.
const benchYAML = `sources:
  trips:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: %s
    format: avro
    schema: |
      {"type": "record", "name": "DriverTrips", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "trips_today", "type": "int"},
        {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}
    timestamp: datetime
keys:
  driver_id: {column: driver_id, type: INT64}
anchors:
  a:
    source: trips
    key: [driver_id]
    features:
      f_modified_streaming_count:  {type: INT32, transform: "trips_today + 1"}
      f_modified_streaming_count2: {type: INT32, transform: "trips_today + randn() * cos(trips_today)"}
      f_busy: {type: BOOLEAN, transform: "trips_today > 10"}
online_store:
  redis: {addr: "127.0.0.1:6379"}
materializations:
  m:
    sink: {redis: {table: %s}}
    features: [f_modified_streaming_count, f_modified_streaming_count2, f_busy]
`

// driverTrip is one DriverTrips record in plain Avro binary.
func driverTrip(driver int64, trips int32, at time.Time) []byte {
	b := binary.AppendVarint(nil, driver)
	b = binary.AppendVarint(b, int64(trips))
	return binary.AppendVarint(b, at.UnixMicro())
}

// BenchmarkPipeline runs the whole path in process: a kfake broker holding
// n pre-produced DriverTrips records, a real redis-server, and a run with
// UntilCaughtUp that decodes, transforms, writes and commits all of them.
// Each iteration is one run under a new consumer group; records/s is the
// run's throughput. "distinct" has a key per record, "hot" repeats 1,000
// keys, so that batches coalesce.
//
// Profile it with
//
//	go test ./pipeline -run '^$' -bench Pipeline -benchtime 3x -cpuprofile cpu.out
func BenchmarkPipeline(b *testing.B) {
	const n = 100_000
	for _, c := range []struct {
		name string
		keys int
	}{{"distinct", n}, {"hot", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			benchPipeline(b, n, c.keys)
		})
	}
}

func benchPipeline(b *testing.B, n, keys int) {
	const partitions = 4
	topic := "bench-trips"
	brokers := testenv.KFake(b, partitions, topic)
	redisAddr := testenv.Redis(b)
	produceBench(b, brokers, topic, n, keys)

	st, err := sink.Open(sink.Options{Addr: redisAddr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	b.ResetTimer()
	run := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		run++
		group := fmt.Sprintf("bench-%d", run)
		f, err := config.Parse("bench.yaml", fmt.Appendf(nil, benchYAML, brokers, topic, group, "bench"+strconv.Itoa(run)), nil)
		if err != nil {
			b.Fatal(err)
		}
		p, err := plan.Compile(f, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		w := st.NewWriter(sink.WriterOptions{Logger: log})
		pl := New(Options{Plan: p, Writer: w, Logger: log, Start: config.StartEarliest, UntilCaughtUp: true})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		b.StartTimer()
		start := time.Now()
		err = pl.Run(ctx)
		elapsed += time.Since(start)
		b.StopTimer()
		cancel()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		if !pl.CaughtUp() {
			b.Fatal("the run ended before it caught up")
		}
		if st := pl.Stats(); st.Read != int64(n) || st.Written != int64(n) {
			b.Fatalf("read %d, wrote %d; want %d each", st.Read, st.Written, n)
		}
		b.StartTimer()
	}
	b.StopTimer()
	checkKeys(b, redisAddr, "bench"+strconv.Itoa(run), keys)
	b.ReportMetric(float64(n*run)/elapsed.Seconds(), "records/s")
}

// produceBench writes n DriverTrips records over keys drivers, spread
// over the topic's partitions by key.
func produceBench(b *testing.B, brokers, topic string, n, keys int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	recs := make([]*kgo.Record, 0, 10_000)
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatalf("produce: %v", err)
		}
		recs = recs[:0]
	}
	for i := range n {
		d := int64(i % keys)
		recs = append(recs, &kgo.Record{
			Key:   strconv.AppendInt(nil, d, 10),
			Value: driverTrip(d, int32(i%1000), base.Add(time.Duration(i)*time.Millisecond)),
		})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
}

// checkKeys checks that the last run wrote one hash per key.
func checkKeys(b *testing.B, addr, table string, keys int) {
	b.Helper()
	c, err := redis.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var cursor, count int
	for {
		v, err := redis.Values(c.Do("SCAN", cursor, "MATCH", table+":*", "COUNT", 10000))
		if err != nil {
			b.Fatal(err)
		}
		cursor, _ = redis.Int(v[0], nil)
		ks, _ := redis.Strings(v[1], nil)
		count += len(ks)
		if cursor == 0 {
			break
		}
	}
	if count != keys {
		b.Fatalf("table %s has %d keys, want %d", table, count, keys)
	}
}
