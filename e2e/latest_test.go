package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestStartLatestReadyLine checks the promise a user relies on with
// start: latest: once materialize logs "partitions assigned", an event
// produced to any partition is read. A producer that is already connected
// (franz-go) sends events round-robin to every partition, one at a time,
// from the moment the line appears; every one of them must be read.
//
// It fails when the starting offsets are resolved after the line: sarama
// calls the handler's Setup, which logs it, before it starts the claims,
// and each claim looks up the newest offset only when it starts.
func TestStartLatestReadyLine(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	const partitions = 4
	const n = 40
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", seedConfig(brokers, topic, group, redisAddr))

	codec, err := goavro.NewCodec(driverTripsSchema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	trips := makeTrips(n, partitions, baseMicros)
	var recs []*kgo.Record
	for i, tr := range trips {
		b, err := codec.BinaryFromNative(nil, map[string]any{
			"driver_id": tr.DriverID, "trips_today": tr.TripsToday, "datetime": time.UnixMicro(tr.Datetime),
		})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Partition: int32(i % partitions), Value: b})
	}

	p := startFeathr(t, "materialize", "-f", cfg, "--timeout", "8s")
	p.waitAssigned(t, 20*time.Second)
	for _, rec := range recs {
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	r := p.wait(t, time.Minute)
	checkSummary(t, r, wantSummary{read: n, written: n, stopped: "timeout"})
	hw := highWatermarks(t, brokers, topic, partitions)
	got := committedOffsets(t, brokers, group, topic, partitions)
	for part := range int32(partitions) {
		if want := int64(n / partitions); hw[part] != want || got[part] != want {
			t.Errorf("partition %d: high watermark %d, committed %d; want %d and %d (every event produced after %q read)",
				part, hw[part], got[part], want, want, "partitions assigned")
		}
	}
	for d, tr := range newestTrips(trips) {
		k := strconv.FormatInt(d, 10)
		checkEqual(t, "get driver "+k, getFeatures(t, redisAddr, seedTable, k, []string{"f_modified_streaming_count"}),
			map[string]any{"f_modified_streaming_count": tr.TripsToday + 1})
	}
}
