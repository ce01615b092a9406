package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"
)

// A bench run: its setup (the feature file, Redis, the topics it creates
// and deletes) and run, which takes the measures in turn: throughput
// (throughput.go), reads (reads.go), freshness and soak (fresh.go).

// bench is one run of the benchmark.
type bench struct {
	o      options
	id     string // unique suffix of this run's topics and groups
	codec  *goavro.Codec
	table  string   // the Redis table the bench file writes
	mat    string   // its materialization
	feats  []string // its features
	rc     redis.Conn
	clock  cpuClock // CPU time of the broker, redis-server and the machine
	topics []string // created, deleted at the end
}

func newBench(o options) (*bench, error) {
	f, err := loadFile(o.file, (&bench{o: o}).env("topic", "group"))
	if err != nil {
		return nil, err
	}
	codec, err := loadCodec(f)
	if err != nil {
		return nil, err
	}
	if len(f.Materializations) != 1 {
		return nil, fmt.Errorf("%s: want one materialization, found %d", o.file, len(f.Materializations))
	}
	m := f.Materializations[0]
	rc, err := dialRedis(o.redis)
	if err != nil {
		return nil, err
	}
	if o.kafkaPID > 0 {
		if _, err := procCPU(o.kafkaPID); err != nil {
			logf("-kafka-pid %d: %v: the broker's CPU is not reported", o.kafkaPID, err)
			o.kafkaPID = 0
		}
	}
	return &bench{
		o:     o,
		id:    strconv.FormatInt(time.Now().Unix(), 36),
		codec: codec,
		table: m.Sink.Table,
		mat:   m.Name,
		feats: m.Features,
		rc:    rc,
		clock: cpuClock{brokerPID: o.kafkaPID, rc: rc},
	}, nil
}

func (b *bench) close() {
	if !b.o.keepTopics {
		if err := deleteTopics(b.o.brokers, b.topics); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", err)
		}
	}
	b.rc.Do("FLUSHALL")
	b.rc.Close()
}

// logf prints progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// env is the environment that points bench.yaml at topic and group.
func (b *bench) env(topic, group string) []string {
	return []string{
		"BENCH_BROKERS=" + b.o.brokers,
		"BENCH_TOPIC=" + topic,
		"BENCH_GROUP=" + group,
		"BENCH_REDIS=" + b.o.redis,
		"BENCH_BATCH=" + strconv.Itoa(b.o.batch),
	}
}

// newTopic creates this run's topic for name with the given topic
// configs (nil: the broker's defaults).
func (b *bench) newTopic(name string, configs map[string]string) (string, error) {
	topic := "feathr-bench-" + name + "-" + b.id
	if err := createTopic(b.o.brokers, topic, b.o.partitions, configs); err != nil {
		return "", err
	}
	b.topics = append(b.topics, topic)
	return topic, nil
}

func (b *bench) flush() error {
	if _, err := b.rc.Do("FLUSHALL"); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	return nil
}

func (b *bench) run(ctx context.Context) (*results, error) {
	start := time.Now()
	res := &results{
		Date:    start.UTC().Format(time.RFC3339),
		Machine: describeMachine(),
		Settings: settings{
			Events: b.o.n, Partitions: b.o.partitions, HotKeys: b.o.hotKeys,
			ZipfKeys: b.o.zipfKeys, ZipfExponent: b.o.zipfS, Batch: b.o.batch,
			Clients: b.o.clients, Rate: b.o.rate, Fresh: b.o.freshFor.String(), Soak: b.o.soak.String(),
		},
	}
	if len(b.o.bins) > 1 || b.o.repeat > 1 {
		res.Settings.Bins, res.Settings.Repeat = b.o.bins, b.o.repeat
	}
	res.Host = res.Machine.Host
	res.Machine.Redis = redisVersion(b.rc)
	res.Machine.Kafka = b.o.kafkaLabel
	res.Machine.Commit = b.o.commit
	var errs []error
	fail := func(what string, err error) {
		logf("%s: %v", what, err)
		res.Errors = append(res.Errors, what+": "+err.Error())
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	profiles := splitList(b.o.profiles)
	readsAfter := readsProfile(profiles)
	for i, name := range profiles {
		pr, err := b.profile(ctx, name, i == readsAfter, res)
		if pr != nil {
			res.Profiles = append(res.Profiles, *pr)
		}
		if err != nil {
			fail("profile "+name, err)
		}
		if ctx.Err() != nil {
			return res, errors.Join(errs...)
		}
	}
	if b.o.freshFor > 0 {
		fr, err := b.freshness(ctx, "fresh", b.o.freshFor, time.Second)
		res.Freshness = fr
		if err != nil {
			fail("freshness", err)
		}
	}
	if b.o.soak > 0 && ctx.Err() == nil {
		fr, err := b.freshness(ctx, "soak", b.o.soak, 5*time.Second)
		res.Soak = fr
		if err != nil {
			fail("soak", err)
		}
	}
	res.Machine.LoadAfter = loadAvg()
	res.TotalSeconds = round(time.Since(start).Seconds(), 1)
	return res, errors.Join(errs...)
}

// readsProfile returns the index of the profile after which reads are
// timed: the last one that writes the row-level features of every driver
// 1..10,000 that reads ask for (not zipf, which leaves rare drivers
// unwritten, nor agg, which writes aggregations), else the last.
func readsProfile(profiles []string) int {
	for i := len(profiles) - 1; i >= 0; i-- {
		if profiles[i] != "zipf" && profiles[i] != aggProfile {
			return i
		}
	}
	return len(profiles) - 1
}

// primary returns the binary that reads, freshness and soak run with, and
// whose runs the profile rows and the targets show: the last of -bins.
func (b *bench) primary() binary { return b.o.bins[len(b.o.bins)-1] }
