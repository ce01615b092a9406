// Command bench measures feathr against a real Apache Kafka broker and a
// real redis-server, as `make bench` (scripts/bench.sh) runs it:
//
//   - throughput: N pre-produced DriverTrips events (profile "distinct":
//     every event a new driver; "hot": a fixed set of drivers, drawn
//     uniformly; "zipf": a larger set drawn with Zipf's law, a few very hot)
//     consumed by `feathr materialize --start earliest --until-caught-up`,
//     with the Redis commands it caused (INFO commandstats), its CPU time
//     and peak RSS, next to the ceiling redis-benchmark reaches with the
//     same HSETs, pipeline depth, connections and key space;
//   - reads: the whole-process wall time of `feathr get` (one key) and
//     `feathr multi-get` (10,000 keys);
//   - freshness: events produced at a paced rate, each with its produce
//     time as event time, to a topic whose record timestamps are the
//     broker's append times: feathr's own share (append → Redis ack, from
//     its summary) beside the produce-to-visible latency an outside poller
//     of Redis sees and the producer's acks;
//   - CPU: feathr's, the broker's, redis-server's and the machine's during
//     each catch-up run, to name the bottleneck;
//   - soak (opt-in): the same paced load for longer, sampling RSS.
//
// With -bins, each profile's catch-up runs alternate between the binaries
// (ABAB...), -repeat rounds, on the same topics, and the report compares
// their medians; reads, freshness and soak use the last binary.
//
// Usage:
//
//	bench run -feathr bin/feathr -brokers 127.0.0.1:9392 -redis 127.0.0.1:6399 [-n 2000000] ...
//	bench run -bins old=/tmp/feathr-old,new=bin/feathr [-repeat 2] ...
//	bench produce -brokers B -topic T -n N [-profile distinct|hot|zipf]
//	bench report RESULT.json   (renders RESULT.md again)
//
// Results go to OUT/<date>-<host>.json and .md; the Markdown table is
// also printed on stdout.
//
// bench runs feathr as a user does, as a binary. Of feathr's packages it
// imports only config (to read the bench file) and sink (the key layout
// and the hidden event-time field its poller reads); nothing imports it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the flags of bench run.
type options struct {
	feathr      string        // the feathr binary, unless bins
	bins        []binary      // binaries to compare (-bins), else just feathr
	repeat      int           // runs of each binary per profile
	file        string        // the bench config (bench/bench.yaml)
	aggFile     string        // the agg profile's (bench/bench_agg.yaml)
	brokers     string        // Kafka bootstrap address
	kafkaPID    int           // the broker's pid, for its CPU time (0: unknown)
	redis       string        // Redis host:port
	out         string        // directory for results
	work        string        // directory for logs of this run
	n           int           // events per throughput profile
	partitions  int           // partitions of every bench topic
	hotKeys     int           // drivers of the hot profile
	zipfKeys    int           // drivers of the zipf profile
	zipfS       float64       // exponent of the zipf profile
	batch       int           // feathr's batch_size = redis-benchmark -P
	clients     int           // feathr's Redis connections = redis-benchmark -c
	profiles    string        // comma-separated: distinct,hot,zipf
	rate        int           // freshness: events per second
	freshFor    time.Duration // freshness: how long to produce
	soak        time.Duration // 0: no soak
	getRuns     int           // runs of feathr get
	multiKeys   int           // keys per feathr multi-get
	multiRuns   int           // runs of feathr multi-get
	kafkaLabel  string        // Kafka version, for the report
	commit      string        // feathr's commit, for the report
	keepTopics  bool          // leave the bench topics on the broker
	materialize time.Duration // bound on one catch-up run
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(ctx, os.Args[2:])
	case "produce":
		err = cmdProduce(ctx, os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  bench run -feathr BIN -brokers HOST:PORT -redis HOST:PORT [flags]   the whole benchmark
  bench run -bins old=BIN,new=BIN [-repeat 2] ...   the same, runs alternating between binaries
  bench produce -brokers HOST:PORT -topic T [-n N] [-profile distinct|hot|zipf]
  bench report RESULT.json...   render results again as Markdown (rewrites RESULT.md)
run 'bench run -h' for the flags`)
}

func cmdRun(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.feathr, "feathr", "bin/feathr", "the feathr binary")
	bins := fs.String("bins", "", "binaries to compare, label=path,...: each profile's runs alternate between them; reads, freshness and soak use the last")
	fs.IntVar(&o.repeat, "repeat", 0, "runs of each binary per profile (default 2 with several -bins, else 1)")
	fs.StringVar(&o.file, "f", "bench/bench.yaml", "the bench feature file")
	fs.StringVar(&o.aggFile, "agg-f", "bench/bench_agg.yaml", "the feature file of the agg profile (window aggregations)")
	fs.StringVar(&o.brokers, "brokers", "127.0.0.1:9392", "Kafka bootstrap address")
	fs.IntVar(&o.kafkaPID, "kafka-pid", 0, "the broker's pid on this machine, to report its CPU time (0: not reported)")
	fs.StringVar(&o.redis, "redis", "127.0.0.1:6399", "Redis host:port (FLUSHALL is run on it)")
	fs.StringVar(&o.out, "out", "bench/results", "directory for the result files")
	fs.StringVar(&o.work, "work", "", "directory for logs (default: a temporary directory)")
	fs.IntVar(&o.n, "n", 2_000_000, "events per throughput profile")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions per topic")
	fs.IntVar(&o.hotKeys, "hot-keys", 100_000, "drivers of the hot profile")
	fs.IntVar(&o.zipfKeys, "zipf-keys", 1_000_000, "drivers of the zipf profile")
	fs.Float64Var(&o.zipfS, "zipf-exponent", 1.1, "exponent of the zipf profile (> 1)")
	fs.IntVar(&o.batch, "batch", 1000, "feathr's batch_size, and redis-benchmark's pipeline depth")
	fs.IntVar(&o.clients, "clients", 4, "redis-benchmark connections (feathr's writer uses 4)")
	fs.StringVar(&o.profiles, "profiles", "distinct,hot,zipf,agg", "throughput profiles to run")
	fs.IntVar(&o.rate, "rate", 10_000, "freshness: events per second")
	fs.DurationVar(&o.freshFor, "fresh", 30*time.Second, "freshness: how long to produce (0: skip)")
	fs.DurationVar(&o.soak, "soak", 0, "soak: how long to produce at -rate while sampling RSS (0: skip)")
	fs.IntVar(&o.getRuns, "get-runs", 20, "runs of feathr get")
	fs.IntVar(&o.multiKeys, "multi-keys", 10_000, "keys per feathr multi-get")
	fs.IntVar(&o.multiRuns, "multi-runs", 5, "runs of feathr multi-get")
	fs.StringVar(&o.kafkaLabel, "kafka-version", "", "Kafka broker version, for the report")
	fs.StringVar(&o.commit, "commit", "", "feathr's commit, for the report")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "do not delete the bench topics at the end")
	fs.DurationVar(&o.materialize, "max-run", 30*time.Minute, "bound on one materialize run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.n <= 0 || o.partitions <= 0 || o.hotKeys <= 0 || o.zipfKeys <= 0 || o.batch <= 0 || o.clients <= 0 || o.rate <= 0 {
		return fmt.Errorf("-n, -partitions, -hot-keys, -zipf-keys, -batch, -clients and -rate must be positive")
	}
	if !(o.zipfS > 1) {
		return fmt.Errorf("-zipf-exponent %v: must be greater than 1", o.zipfS)
	}
	if *bins == "" {
		o.bins = []binary{{Label: "feathr", Path: o.feathr}}
	} else {
		var err error
		if o.bins, err = parseBins(*bins); err != nil {
			return err
		}
	}
	for i := range o.bins {
		bin := &o.bins[i]
		if err := bin.check(); err != nil {
			return err
		}
		// A binary built without VCS stamping (-buildvcs=false) does not
		// know its commit; -feathr's is -commit, which bench.sh built.
		if bin.Revision == "" && filepath.Clean(bin.Path) == filepath.Clean(o.feathr) {
			bin.Revision = o.commit
		}
	}
	switch {
	case o.repeat < 0:
		return fmt.Errorf("-repeat %d: must not be negative", o.repeat)
	case o.repeat == 0 && len(o.bins) > 1:
		o.repeat = 2
	case o.repeat == 0:
		o.repeat = 1
	}
	for _, p := range splitList(o.profiles) {
		if !slices.Contains(profiles, p) {
			return fmt.Errorf("-profiles: unknown profile %q: want some of %s", p, strings.Join(profiles, ","))
		}
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "feathr-bench-")
		if err != nil {
			return err
		}
		o.work = dir
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	b, err := newBench(o)
	if err != nil {
		return err
	}
	defer b.close()
	res, err := b.run(ctx)
	if res != nil {
		if werr := writeResults(o.out, res, os.Stdout); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func cmdProduce(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9192", "Kafka bootstrap address")
	file := fs.String("f", "bench/bench.yaml", "the feature file whose schema to encode with")
	topic := fs.String("topic", "", "topic (created with -partitions when missing)")
	n := fs.Int("n", 100_000, "events")
	partitions := fs.Int("partitions", 4, "partitions of a new topic")
	profile := fs.String("profile", "distinct", "distinct, hot or zipf")
	hotKeys := fs.Int("hot-keys", 100_000, "drivers of the hot profile")
	zipfKeys := fs.Int("zipf-keys", 1_000_000, "drivers of the zipf profile")
	zipfS := fs.Float64("zipf-exponent", 1.1, "exponent of the zipf profile (> 1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return fmt.Errorf("-topic is required")
	}
	f, err := loadFile(*file, []string{"BENCH_BROKERS=" + *brokers, "BENCH_TOPIC=" + *topic, "BENCH_GROUP=g", "BENCH_REDIS=127.0.0.1:6379"})
	if err != nil {
		return err
	}
	codec, err := loadCodec(f)
	if err != nil {
		return err
	}
	if err := createTopic(*brokers, *topic, *partitions, nil); err != nil {
		return err
	}
	st, err := produceBulk(ctx, *brokers, codec, *topic, profileSpec{name: *profile, n: *n, hotKeys: *hotKeys, zipfKeys: *zipfKeys, zipfS: *zipfS})
	if err != nil {
		return err
	}
	fmt.Printf("produced %d events (%d drivers) to %s in %.2fs (%.0f/s)\n",
		*n, st.keys, *topic, st.elapsed.Seconds(), float64(*n)/st.elapsed.Seconds())
	return nil
}

func cmdReport(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("report: name result .json files")
	}
	for _, path := range args {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var res results
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		md := strings.TrimSuffix(path, ".json") + ".md"
		if err := os.WriteFile(md, []byte(markdown(&res)), 0o644); err != nil {
			return err
		}
		fmt.Print(markdown(&res))
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
