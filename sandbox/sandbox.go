// Package sandbox runs a self-contained stand-in for the services a feathr
// file names: an in-process Kafka-protocol broker (kfake) and an
// in-process Redis-protocol server (miniredis) on the file's addresses,
// with a producer of sample events made from each source's schema. It is
// for demos and first steps, not for production or for tests of record.
//
// sandbox imports config, decode and record, and is the only package of
// the feathr binary that imports franz-go (kfake and kgo) and miniredis:
// `feathr dev` links them in, while materialize consumes with Sarama.
// Nothing on the pipeline's path imports sandbox.
package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/record"
)

// Options configure a sandbox.
type Options struct {
	File *config.File
	// Rate is how many events a second each source receives (default 50).
	Rate int
	// Entities is how many distinct values each key column takes (default 10).
	Entities int
	// Partitions per topic (default 4).
	Partitions int
	Logger     *slog.Logger
}

// Sandbox is a running broker, store and producer.
type Sandbox struct {
	cluster *kfake.Cluster
	redis   *miniredis.Miniredis
	client  *kgo.Client
	Brokers string
	Redis   string
}

// Start starts the broker on the first source's first broker address and
// Redis on the online store's address.
func Start(opts Options) (*Sandbox, error) {
	f := opts.File
	if len(f.Sources) == 0 {
		return nil, fmt.Errorf("%s has no sources", f.Path)
	}
	if opts.Rate <= 0 {
		opts.Rate = 50
	}
	if opts.Entities <= 0 {
		opts.Entities = 10
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	broker := f.Sources[0].Kafka.Brokers[0]
	_, portStr, err := net.SplitHostPort(broker)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", broker, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", broker, err)
	}
	var topics []string
	for _, s := range f.Sources {
		topics = append(topics, s.Kafka.Topics...)
	}
	cluster, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(int32(opts.Partitions), topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("starting the Kafka-protocol broker on port %d: %w", port, err)
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(f.OnlineStore.Redis.Addr); err != nil {
		cluster.Close()
		return nil, fmt.Errorf("starting the Redis-protocol server on %s: %w", f.OnlineStore.Redis.Addr, err)
	}
	if f.OnlineStore.Redis.Password != "" {
		mr.RequireAuth(f.OnlineStore.Redis.Password)
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		mr.Close()
		cluster.Close()
		return nil, err
	}
	return &Sandbox{cluster: cluster, redis: mr, client: client, Brokers: cluster.ListenAddrs()[0], Redis: mr.Addr()}, nil
}

// Produce sends sample events to every source's topics until ctx is done.
func (s *Sandbox) Produce(ctx context.Context, opts Options, produced func(n int)) error {
	if opts.Rate <= 0 {
		opts.Rate = 50
	}
	if opts.Entities <= 0 {
		opts.Entities = 10
	}
	var gens []*generator
	for _, src := range opts.File.Sources {
		if src.Format != config.FormatAvro {
			return fmt.Errorf("source %s: the sandbox produces plain Avro only, not %s", src.Name, src.Format)
		}
		g, err := newGenerator(opts.File, src, opts.Entities)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Name, err)
		}
		gens = append(gens, g)
	}
	tick := time.NewTicker(time.Second / time.Duration(opts.Rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, g := range gens {
			value, key, err := g.next()
			if err != nil {
				return err
			}
			for _, topic := range g.src.Kafka.Topics {
				s.client.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
					if err == nil && produced != nil {
						produced(1)
					}
				})
			}
		}
	}
}

// Close stops the producer, the broker and Redis.
func (s *Sandbox) Close() {
	s.client.Close()
	s.redis.Close()
	s.cluster.Close()
}

// generator makes random records that fit a source's schema; key columns
// take values from a small set so that features of an entity change.
type generator struct {
	src      *config.Source
	codec    *goavro.Codec
	schema   record.Schema
	keyCols  map[string]bool
	firstKey string
	entities int
	rnd      *rand.Rand
}

func newGenerator(f *config.File, src *config.Source, entities int) (*generator, error) {
	codec, err := goavro.NewCodec(src.Schema)
	if err != nil {
		return nil, err
	}
	schema, err := decode.ParseAvroSchema(src.Schema)
	if err != nil {
		return nil, err
	}
	g := &generator{src: src, codec: codec, schema: schema, keyCols: map[string]bool{}, entities: entities, rnd: rand.New(rand.NewPCG(1, 2))}
	for _, a := range f.Anchors {
		if a.Source != src.Name {
			continue
		}
		for _, kn := range a.Key {
			if k := f.Key(kn); k != nil {
				g.keyCols[k.Column] = true
				if g.firstKey == "" {
					g.firstKey = k.Column
				}
			}
		}
	}
	return g, nil
}

func (g *generator) next() (value, key []byte, err error) {
	rec := make(map[string]any, len(g.schema.Fields))
	for _, f := range g.schema.Fields {
		rec[f.Name] = g.value(f)
	}
	value, err = g.codec.BinaryFromNative(nil, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding a sample event: %w", err)
	}
	if g.firstKey != "" {
		key = []byte(fmt.Sprint(rec[g.firstKey]))
	}
	return value, key, nil
}

func (g *generator) value(f record.Field) any {
	if f.Type.Nullable {
		return nil
	}
	if g.keyCols[f.Name] {
		n := g.rnd.IntN(g.entities) + 1
		switch f.Type.Kind {
		case record.String:
			return "entity-" + strconv.Itoa(n)
		case record.Int:
			return int64(n)
		}
	}
	switch f.Type.Kind {
	case record.Bool:
		return g.rnd.IntN(2) == 0
	case record.Int:
		return int32(g.rnd.IntN(30))
	case record.Float:
		return g.rnd.Float64() * 100
	case record.String:
		return []string{"chrome", "firefox", "safari", "edge"}[g.rnd.IntN(4)]
	case record.Bytes:
		return []byte{byte(g.rnd.IntN(256))}
	case record.Timestamp:
		return time.Now()
	case record.Array:
		return []any{}
	case record.Map:
		return map[string]any{}
	}
	return nil
}
