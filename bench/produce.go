package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
)

// loadFile loads the feature file at path with ${VAR} taken from env
// ("NAME=value" entries) alone.
func loadFile(path string, env []string) (*config.File, error) {
	f, err := config.Load(path, func(name string) (string, bool) {
		for _, kv := range env {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return f, nil
}

// loadCodec returns an Avro codec for the schema of the first source of
// the feature file f, so that events are encoded with exactly the schema
// feathr decodes with.
func loadCodec(f *config.File) (*goavro.Codec, error) {
	path := f.Path
	if len(f.Sources) == 0 || f.Sources[0].Schema == "" {
		return nil, fmt.Errorf("%s: no source with an Avro schema", path)
	}
	codec, err := goavro.NewCodec(f.Sources[0].Schema)
	if err != nil {
		return nil, fmt.Errorf("%s: schema: %w", path, err)
	}
	return codec, nil
}

// trip is one DriverTrips event.
type trip struct {
	driverID   int64
	tripsToday int32
	micros     int64 // datetime: microseconds since the epoch
}

// encode appends the Avro binary encoding of t to buf.
func (t trip) encode(codec *goavro.Codec, buf []byte) ([]byte, error) {
	return codec.BinaryFromNative(buf, map[string]any{
		"driver_id":   t.driverID,
		"trips_today": t.tripsToday,
		"datetime":    t.micros,
	})
}

// record returns the Kafka record of t: keyed by driver, so that a
// driver's events stay in order on one partition.
func (t trip) record(codec *goavro.Codec, topic string, ts time.Time) (*kgo.Record, error) {
	v, err := t.encode(codec, nil)
	if err != nil {
		return nil, fmt.Errorf("avro encode: %w", err)
	}
	return &kgo.Record{
		Topic:     topic,
		Key:       strconv.AppendInt(nil, t.driverID, 10),
		Value:     v,
		Timestamp: ts,
	}, nil
}

// profileSpec describes the events of a throughput profile.
type profileSpec struct {
	name     string  // "distinct", "hot" or "zipf"
	n        int     // events
	hotKeys  int     // drivers of "hot"
	zipfKeys int     // drivers of "zipf"
	zipfS    float64 // exponent of "zipf" (> 1)
}

// profiles are the names profileSpec.trips knows.
var profiles = []string{"distinct", "hot", "zipf", aggProfile}

// keySpace returns how many drivers the profile draws from: n for
// "distinct", hotKeys for "hot", zipfKeys for "zipf".
func (p profileSpec) keySpace() int {
	switch p.name {
	case "hot", aggProfile:
		return p.hotKeys
	case "zipf":
		return p.zipfKeys
	}
	return p.n
}

// trips calls fn with the profile's events in order. "distinct": event i
// is driver i+1. "hot": each event is one of hotKeys drivers, drawn
// uniformly. "zipf": each event is one of zipfKeys drivers, driver k+1
// drawn with probability proportional to (1+k)^-zipfS, so that a few
// drivers are very hot and most are seen once or never, as in click
// streams. Draws come from a fixed-seed generator (the same events at
// every run). Event times grow by one microsecond per event, from base.
func (p profileSpec) trips(base int64, fn func(i int, t trip) error) error {
	rng := rand.New(rand.NewPCG(1, 2))
	var id func(i int) int64
	switch p.name {
	case "distinct":
		id = func(i int) int64 { return int64(i) + 1 }
	case "hot", aggProfile:
		if p.hotKeys <= 0 {
			return fmt.Errorf("profile hot: %d drivers", p.hotKeys)
		}
		id = func(int) int64 { return int64(rng.IntN(p.hotKeys)) + 1 }
	case "zipf":
		if p.zipfKeys <= 0 || !(p.zipfS > 1) {
			return fmt.Errorf("profile zipf: %d drivers, exponent %v: want drivers > 0 and exponent > 1", p.zipfKeys, p.zipfS)
		}
		z := rand.NewZipf(rng, p.zipfS, 1, uint64(p.zipfKeys-1))
		id = func(int) int64 { return int64(z.Uint64()) + 1 }
	default:
		return fmt.Errorf("unknown profile %q: want one of %s", p.name, strings.Join(profiles, ", "))
	}
	for i := range p.n {
		t := trip{driverID: id(i), tripsToday: int32((i*7 + 3) % 23), micros: base + int64(i)}
		if err := fn(i, t); err != nil {
			return err
		}
	}
	return nil
}

// newProducer returns a franz-go producer client. linger 0 sends a record
// as soon as the previous request to its partition is answered.
func newProducer(brokers string, linger time.Duration, buffered int) (*kgo.Client, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(splitList(brokers)...),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(buffered),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.UnknownTopicRetries(-1),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return cl, nil
}

// produceStats describes a finished produce.
type produceStats struct {
	keys    int // distinct drivers
	elapsed time.Duration
}

// produceBulk produces the profile's events to topic as fast as the broker
// takes them, and waits until all are acknowledged.
func produceBulk(ctx context.Context, brokers string, codec *goavro.Codec, topic string, p profileSpec) (produceStats, error) {
	cl, err := newProducer(brokers, 5*time.Millisecond, 200_000)
	if err != nil {
		return produceStats{}, err
	}
	defer cl.Close()
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			once.Do(func() { firstErr = err })
		}
	}
	// seen marks the drivers produced, 1..keySpace, for profiles that
	// repeat drivers.
	var seen []bool
	keys := p.n
	if p.name != "distinct" {
		seen, keys = make([]bool, p.keySpace()+1), 0
	}
	start := time.Now()
	now := start
	base := start.Add(-time.Hour).UnixMicro()
	if p.name == aggProfile {
		// Near now, as in a live stream: in every window, not late.
		base = start.UnixMicro()
	}
	err = p.trips(base, func(i int, t trip) error {
		if seen != nil && !seen[t.driverID] {
			seen[t.driverID] = true
			keys++
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			now = time.Now()
		}
		r, err := t.record(codec, topic, now)
		if err != nil {
			return err
		}
		cl.Produce(ctx, r, done)
		return nil
	})
	if err != nil {
		return produceStats{}, err
	}
	if err := cl.Flush(ctx); err != nil {
		return produceStats{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	if n := failed.Load(); n > 0 {
		return produceStats{}, fmt.Errorf("produce to %s: %d records failed, first: %w", topic, n, firstErr)
	}
	return produceStats{keys: keys, elapsed: time.Since(start)}, nil
}

// sample is an event the freshness poller watches for.
type sample struct {
	key      string    // the Redis key
	eventMs  int64     // its event time, unix ms, as the hidden field stores it
	produced time.Time // its produce time (record timestamp and datetime)
}

// pacedStats describes a finished paced produce.
type pacedStats struct {
	produced int
	elapsed  time.Duration
	acks     []time.Duration // per event: record timestamp → broker ack
}

// producePaced produces rate events per second for d, every event a new
// driver from firstID on, its record timestamp and datetime its produce
// time. Every sampleEvery-th event is also sent to samples (without
// blocking: a full channel drops the sample), with keyOf(driver) as key.
func producePaced(ctx context.Context, brokers string, codec *goavro.Codec, topic string, rate int, d time.Duration,
	firstID int64, sampleEvery int, keyOf func(int64) string, samples chan<- sample) (pacedStats, error) {
	cl, err := newProducer(brokers, 0, 100_000)
	if err != nil {
		return pacedStats{}, err
	}
	defer cl.Close()
	total := int(float64(rate) * d.Seconds())
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	var mu sync.Mutex
	acks := make([]time.Duration, 0, total)
	done := func(r *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			once.Do(func() { firstErr = err })
			return
		}
		d := time.Since(r.Timestamp)
		mu.Lock()
		acks = append(acks, d)
		mu.Unlock()
	}
	start := time.Now()
	i := 0
	for i < total {
		if err := ctx.Err(); err != nil {
			return pacedStats{}, err
		}
		due := min(int(time.Since(start).Seconds()*float64(rate))+1, total)
		for ; i < due; i++ {
			now := time.Now()
			t := trip{driverID: firstID + int64(i), tripsToday: int32((i*7 + 3) % 23), micros: now.UnixMicro()}
			r, err := t.record(codec, topic, now)
			if err != nil {
				return pacedStats{}, err
			}
			cl.Produce(ctx, r, done)
			if sampleEvery > 0 && i%sampleEvery == 0 {
				select {
				case samples <- sample{key: keyOf(t.driverID), eventMs: t.micros / 1000, produced: now}:
				default:
				}
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	if err := cl.Flush(ctx); err != nil {
		return pacedStats{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	if n := failed.Load(); n > 0 {
		return pacedStats{}, fmt.Errorf("produce to %s: %d records failed, first: %w", topic, n, firstErr)
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	return pacedStats{produced: total, elapsed: elapsed, acks: acks}, nil
}

// adminConfig is the sarama configuration of topic administration.
func adminConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "feathr-bench"
	return cfg
}

// createTopic creates topic with the given partitions and topic configs
// (nil: the broker's defaults); an existing topic is an error, so that
// stale data cannot creep into a run.
func createTopic(brokers, topic string, partitions int, configs map[string]string) error {
	admin, err := sarama.NewClusterAdmin(splitList(brokers), adminConfig())
	if err != nil {
		return fmt.Errorf("kafka admin at %s: %w", brokers, err)
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}
	for k, v := range configs {
		if detail.ConfigEntries == nil {
			detail.ConfigEntries = map[string]*string{}
		}
		detail.ConfigEntries[k] = &v
	}
	err = admin.CreateTopic(topic, detail, false)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// deleteTopics deletes the topics, ignoring those already gone.
func deleteTopics(brokers string, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	admin, err := sarama.NewClusterAdmin(splitList(brokers), adminConfig())
	if err != nil {
		return fmt.Errorf("kafka admin at %s: %w", brokers, err)
	}
	defer admin.Close()
	var errs []error
	for _, t := range topics {
		if err := admin.DeleteTopic(t); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}
