package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/internal/testenv"
)

// TestTripDecodes checks that the events the benchmark produces decode
// with feathr's own Avro decoder, under the bench file's schema.
func TestTripDecodes(t *testing.T) {
	f, err := loadFile("bench.yaml", []string{"BENCH_BROKERS=127.0.0.1:9092", "BENCH_TOPIC=t", "BENCH_GROUP=g", "BENCH_REDIS=127.0.0.1:6379"})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := loadCodec(f)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode.NewAvro(f.Sources[0].Schema, decode.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 26, 12, 0, 0, 123456000, time.UTC)
	for _, tr := range []trip{
		{driverID: 1, tripsToday: 0, micros: ts.UnixMicro()},
		{driverID: 1 << 40, tripsToday: 22, micros: ts.UnixMicro() + 1},
		{driverID: -7, tripsToday: -1, micros: 0},
	} {
		r, err := tr.record(codec, "topic", ts)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != strconv.FormatInt(tr.driverID, 10) || r.Topic != "topic" || !r.Timestamp.Equal(ts) {
			t.Errorf("record %+v: key %q topic %q timestamp %v", tr, r.Key, r.Topic, r.Timestamp)
		}
		rec, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode %+v: %v", tr, err)
		}
		if rec["driver_id"] != tr.driverID {
			t.Errorf("driver_id = %v (%T), want %d", rec["driver_id"], rec["driver_id"], tr.driverID)
		}
		if got, ok := rec["trips_today"].(int32); !ok || got != tr.tripsToday {
			if got64, ok := rec["trips_today"].(int64); !ok || got64 != int64(tr.tripsToday) {
				t.Errorf("trips_today = %v (%T), want %d", rec["trips_today"], rec["trips_today"], tr.tripsToday)
			}
		}
		var micros int64
		switch v := rec["datetime"].(type) {
		case time.Time:
			micros = v.UnixMicro()
		case int64:
			micros = v
		default:
			t.Fatalf("datetime = %v (%T)", v, v)
		}
		if micros != tr.micros {
			t.Errorf("datetime = %d µs, want %d", micros, tr.micros)
		}
	}
}

func TestProfileTrips(t *testing.T) {
	ids := func(p profileSpec) []int64 {
		var out []int64
		if err := p.trips(1000, func(i int, tr trip) error {
			if tr.micros != 1000+int64(i) {
				t.Errorf("%s: event %d at %d µs", p.name, i, tr.micros)
			}
			out = append(out, tr.driverID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := ids(profileSpec{name: "distinct", n: 5}); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("distinct: %v", got)
	}
	hot := profileSpec{name: "hot", n: 1000, hotKeys: 10}
	a, b := ids(hot), ids(hot)
	if !slices.Equal(a, b) {
		t.Error("hot: two runs produced different events")
	}
	seen := map[int64]bool{}
	for _, id := range a {
		if id < 1 || id > 10 {
			t.Fatalf("hot: driver %d outside 1..10", id)
		}
		seen[id] = true
	}
	if len(seen) != 10 {
		t.Errorf("hot: %d of 10 drivers in 1000 events", len(seen))
	}
	if err := (profileSpec{name: "cold", n: 1}).trips(0, func(int, trip) error { return nil }); err == nil {
		t.Error("unknown profile: no error")
	}

	zipf := profileSpec{name: "zipf", n: 100_000, zipfKeys: 1_000_000, zipfS: 1.1}
	a, b = ids(zipf), ids(zipf)
	if !slices.Equal(a, b) {
		t.Error("zipf: two runs produced different events")
	}
	counts := map[int64]int{}
	for _, id := range a {
		if id < 1 || id > 1_000_000 {
			t.Fatalf("zipf: driver %d outside 1..1000000", id)
		}
		counts[id]++
	}
	// P(driver 1) = 1/H ≈ 1/8.1 for s = 1.1 over a million drivers; the
	// ten hottest take about a third of the events, and most drivers
	// drawn are drawn once.
	if c := counts[1]; c < 10_000 || c > 15_000 {
		t.Errorf("zipf: driver 1 drawn %d times in 100000, want about 12000", c)
	}
	if counts[1] <= counts[2] || counts[2] <= counts[10] {
		t.Errorf("zipf: drivers 1, 2, 10 drawn %d, %d, %d times: not decreasing", counts[1], counts[2], counts[10])
	}
	if len(counts) < 20_000 || len(counts) > 60_000 {
		t.Errorf("zipf: %d distinct drivers in 100000 events", len(counts))
	}
	for _, p := range []profileSpec{{name: "zipf", n: 1, zipfKeys: 10, zipfS: 1}, {name: "zipf", n: 1, zipfS: 1.1}} {
		if err := p.trips(0, func(int, trip) error { return nil }); err == nil {
			t.Errorf("zipf %+v: no error", p)
		}
	}
	for p, want := range map[profileSpec]int{
		{name: "distinct", n: 7}:                    7,
		{name: "hot", n: 7, hotKeys: 3}:             3,
		{name: "zipf", n: 7, zipfKeys: 9, zipfS: 2}: 9,
	} {
		if got := p.keySpace(); got != want {
			t.Errorf("%s: keySpace %d, want %d", p.name, got, want)
		}
	}
}

func TestCoalescing(t *testing.T) {
	for _, tt := range []struct {
		updates, keys int64
		want          string
	}{
		{2_000_000, 1_210_000, "2.00M → 1.21M (39.5%)"},
		{1000, 1000, "1.00k → 1.00k (0%)"},
		{0, 0, "n/a"},
	} {
		if got := coalescing(tt.updates, tt.keys); got != tt.want {
			t.Errorf("coalescing(%d, %d) = %q, want %q", tt.updates, tt.keys, got, tt.want)
		}
	}
}

func TestCommandStats(t *testing.T) {
	before, err := parseCommandStats("# Commandstats\r\ncmdstat_info:calls=3,usec=1,usec_per_call=0.33,rejected_calls=0,failed_calls=0\r\ncmdstat_hset:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseCommandStats("# Commandstats\r\ncmdstat_info:calls=5,usec=1\r\ncmdstat_hset:calls=2010,usec=5\r\ncmdstat_evalsha:calls=2000,usec=9\r\ncmdstat_flushall:calls=1,usec=9\r\ncmdstat_script|load:calls=4,usec=1\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if st := after["hset"]; st != (cmdStat{Calls: 2010, Usec: 5}) {
		t.Errorf("hset: %+v", st)
	}
	d, total := commandDelta(before, after)
	want := map[string]int64{"hset": 2000, "evalsha": 2000, "script|load": 4}
	if len(d) != len(want) || total != 4004 {
		t.Fatalf("delta %v total %d, want %v", d, total, want)
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s: %d, want %d", k, d[k], v)
		}
	}
	if got := formatCommands(d); got != "evalsha 2.00k, hset 2.00k, script|load 4" {
		t.Errorf("formatCommands = %q", got)
	}
	if _, err := parseCommandStats("cmdstat_get:calls=x"); err == nil {
		t.Error("bad calls: no error")
	}
}

func TestParseBenchmarkCSV(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{`"test","rps","avg_latency_ms"` + "\n" + `"HSET t:__rand_int__ f1 a","229885.06","4.417"` + "\n", 229885.06, false},
		{`"test","rps"` + "\n", 0, true},
		{`"HSET x","fast"` + "\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBenchmarkCSV(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseBenchmarkCSV(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseSummary(t *testing.T) {
	s, err := parseSummary([]byte(`{"materializations":["m"],"records_read":5,"stopped":"caught-up","duration_seconds":1.5}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 5 || s.Stopped != "caught-up" || s.DurationSeconds != 1.5 || s.Freshness != nil {
		t.Errorf("summary %+v", s)
	}
	if got := s.Freshness.String(); got != "n/a" {
		t.Errorf("absent freshness renders %q", got)
	}
	s, err = parseSummary([]byte("noise\n" + `{"records_read":1,"freshness_ms":{"p50":1.5,"p99":20,"max":31.25}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Freshness == nil || *s.Freshness != (percentiles{1.5, 20, 31.25}) {
		t.Errorf("freshness %+v", s.Freshness)
	}
	if got := s.Freshness.String(); got != "1.5 / 20 / 31.3" {
		t.Errorf("freshness renders %q", got)
	}
	if _, err := parseSummary([]byte("no json\n")); err == nil {
		t.Error("no summary: no error")
	}
}

func TestLatencyPercentiles(t *testing.T) {
	if latencyPercentiles(nil) != nil {
		t.Error("no samples: want nil")
	}
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := latencyPercentiles(ds)
	if *p != (percentiles{P50: 50, P99: 99, Max: 100}) {
		t.Errorf("percentiles %+v", *p)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("latencyPercentiles sorted its argument")
	}
}

func TestHumanFormats(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 2000000: "2,000,000", -12345: "-12,345"} {
		if got := humanInt(n); got != want {
			t.Errorf("humanInt(%d) = %q, want %q", n, got, want)
		}
	}
	for x, want := range map[float64]string{950: "950", 1234: "1.23k", 12345: "12.3k", 2e6: "2.00M"} {
		if got := humanCount(x); got != want {
			t.Errorf("humanCount(%v) = %q, want %q", x, got, want)
		}
	}
}

// TestPoller runs the freshness poller against a real redis-server: a
// sample is seen once its key's event time reaches the sample's, and one
// never written is counted missing when the poller is stopped.
func TestPoller(t *testing.T) {
	addr := testenv.Redis(t)
	c, err := dialRedis(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const field = "__feathr_event_time:m"
	if _, err := c.Do("HSET", "t:old", field, 999); err != nil {
		t.Fatal(err)
	}
	pl := poller{addr: addr, hiddenTimeField: field, interval: time.Millisecond}

	in := make(chan sample, 2)
	start := time.Now()
	in <- sample{key: "t:new", eventMs: 1000, produced: start}
	in <- sample{key: "t:old", eventMs: 1000, produced: start} // holds an older event
	close(in)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan pollResult, 1)
	go func() {
		r, err := pl.run(ctx, in)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	time.Sleep(20 * time.Millisecond)
	written := time.Now()
	for _, key := range []string{"t:new", "t:old"} {
		if _, err := c.Do("HSET", key, field, 1000); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done // returns once both are seen
	if len(r.latencies) != 2 || r.missing != 0 {
		t.Fatalf("latencies %v, missing %d; want 2 seen", r.latencies, r.missing)
	}
	for _, l := range r.latencies {
		if l < written.Sub(start) {
			t.Errorf("latency %v is shorter than the time before the write (%v)", l, written.Sub(start))
		}
	}

	in = make(chan sample, 1)
	in <- sample{key: "t:never", eventMs: 1000, produced: time.Now()}
	close(in)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r, err = pl.run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.latencies) != 0 || r.missing != 1 {
		t.Errorf("never written: latencies %v, missing %d; want 1 missing", r.latencies, r.missing)
	}
}

func TestMarkdown(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	res := &results{
		Date:     "2026-11-26T12:00:00Z",
		Machine:  machine{CPU: "Test CPU", Cores: 2, RAMGB: 4},
		Settings: settings{Events: 1000, Partitions: 4, HotKeys: 100, ZipfKeys: 1000, ZipfExponent: 1.1, Batch: 1000, Clients: 4, Rate: 10000, Fresh: "30s"},
		Profiles: []profileResult{
			{Name: "distinct", Events: 1000, Keys: 1000, Ratio: 0.7, Target: 0.6, Ceiling: ceilingResult{OpsPerSec: 100000},
				runResult: runResult{EventsPerSec: 70000, CPUMicrosPerEvent: 1.4, RedisByCommand: map[string]int64{"evalsha": 1000},
					UpdatesWritten: 1000, KeysWritten: 1000, EvalshaMicrosPerCall: 102,
					CPU: &cpuUse{WallSeconds: 4, FeathrSeconds: 1.7, BrokerSeconds: f(0.8), RedisSeconds: 2, MachineSeconds: f(5), Cores: 2}}},
			{Name: "hot", Events: 1000, Keys: 100, Ratio: 0.5, Target: 0.6, runResult: runResult{EventsPerSec: 50000, CPUMicrosPerEvent: 3.2}},
			{Name: "zipf", Events: 1000, Keys: 300, Ratio: 1.6, Target: 1.5, runResult: runResult{EventsPerSec: 50000, CPUMicrosPerEvent: 1}},
		},
		Reads:     &readResult{GetP50: 9, GetMax: 12, Keys: 10000, MultiP50: 200, MultiMax: 250},
		Freshness: &freshResult{Samples: 3000, Poller: &percentiles{P50: 5, P99: 20, Max: 40}, PeakRSSMB: 60},
	}
	md := markdown(res)
	for _, want := range []string{
		"Test CPU, 2 cores, 4 GB RAM",
		"zipf = 1,000 drivers (exponent 1.1)",
		"| distinct: events/s ÷ same-run HSET ceiling | 70.0k/s = **0.7×** (ceiling 100.0k HSET/s) | ≥ 0.6× | ✓ | #14 |",
		"| hot (100 drivers): events/s ÷ same-run HSET ceiling | 50.0k/s = **0.5×** (ceiling 0 HSET/s) | ≥ 0.6× | ✗ | #14 |",
		"| zipf (1,000 drivers, exponent 1.1): events/s ÷ same-run HSET ceiling | 50.0k/s = **1.6×** (ceiling 0 HSET/s) | ≥ 1.5× | ✓ | #14 |",
		"| CPU per event (feathr), µs | distinct 1.4, hot 3.2, zipf 1 | ≤ 1.5 µs | ✗ | #14 |",
		"| feathr's CPU use during catch-up, and the bottleneck (each process's share in the CPU table below) | distinct: 1.7 CPU s in 4 s = **0.43 of a core** → none saturated, waiting (busiest: redis-server, 0.5 of a core); hot: n/a; zipf: n/a | the bottleneck is named, with numbers | ✗ | #14 |",
		"| freshness p50 / p99 / max, pipeline (ms) | n/a | p99 ≤ 25 | – | #6 |",
		"| freshness end to end, poller: produce → visible, p50 / p99 / max (ms, 3000 samples) | 5 / 20 / 40 | p99 ≤ 25 | ✓ | #6 |",
		"| peak RSS (largest of the runs) | 60 MB | ≤ 150 MB | ✓ | #6 |",
		"| `feathr get` 1 key, process wall, p50 (max) | 9 ms (12) | ≤ 15 ms | ✓ | #6 |",
		"| `feathr multi-get` 10,000 keys, p50 (max) | 200 ms (250) | ≤ 150 ms | ✗ | #6 |",
		"evalsha 1.00k",
		"| distinct | 4 s | 1.7 s = 0.43 | 1.4 | 0.8 s = 0.2 | 2 s = 0.5 | 1.25 of 2 (other 0.13) | 2000 | 102 | none saturated, waiting (busiest: redis-server, 0.5 of a core) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestMaxBySecond(t *testing.T) {
	start := time.Unix(100, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	got := maxBySecond(start,
		[]time.Time{at(10), at(900), at(2500)},
		[]time.Duration{3 * time.Millisecond, 7250 * time.Microsecond, time.Millisecond})
	if want := []float64{7.3, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("maxBySecond = %v, want %v", got, want)
	}
}

func TestParseTimeV(t *testing.T) {
	out := "\tCommand being timed: \"feathr materialize\"\n\tUser time (seconds): 12.34\n\tSystem time (seconds): 1.66\n" +
		"\tPercent of CPU this job got: 150%\n\tMaximum resident set size (kbytes): 65536\n\tExit status: 0\n"
	cpu, rss, err := parseTimeV(out)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 14*time.Second || rss != 65536 {
		t.Errorf("cpu %v rss %d, want 14s 65536", cpu, rss)
	}
	if _, _, err := parseTimeV("\tUser time (seconds): 1.00\n"); err == nil {
		t.Error("incomplete output: no error")
	}
}

func TestProcMem(t *testing.T) {
	rss, hwm, err := procMemKB(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d kB, VmHWM %d kB", rss, hwm)
	}
}

// TestProduceTime checks that the produce time the append check compares
// with is the event's datetime, as the paced producer sets it.
func TestProduceTime(t *testing.T) {
	f, err := loadFile("bench.yaml", []string{"BENCH_BROKERS=127.0.0.1:9092", "BENCH_TOPIC=t", "BENCH_GROUP=g", "BENCH_REDIS=127.0.0.1:6379"})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := loadCodec(f)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC)
	v, err := trip{driverID: 3, micros: at.UnixMicro()}.encode(codec, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := produceTime(codec, v)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(at) {
		t.Errorf("produceTime = %v, want %v", got, at)
	}
	if _, err := produceTime(codec, []byte{0xff}); err == nil {
		t.Error("garbage: no error")
	}
}

func TestFreshLatencyTable(t *testing.T) {
	f := &freshResult{
		Rate: 10000, TimestampType: "LogAppendTime", Samples: 3000,
		Pipeline:   &percentiles{P50: 1.2, P99: 4.5, Max: 9},
		Poller:     &percentiles{P50: 3, P99: 20, Max: 40},
		ProduceAck: &percentiles{P50: 2, P99: 16.2, Max: 30},
		AppendCheck: &appendCheck{Records: 300000, LogAppendTime: 300000, Sampled: 50000,
			AppendMinusProduce: &percentiles{P50: 1, P99: 12, Max: 25}, MinMs: -0.4},
	}
	got := f.latencyTable()
	for _, want := range []string{
		"| produce → broker append | 1 | 12 | 25 | 50,000 records read back (300,000 of 300,000 with LogAppendTime), append time − datetime |",
		"| **append → Redis ack (feathr's share)** | 1.2 | 4.5 | 9 | feathr's summary, `freshness_ms` |",
		"| produce → broker ack | 2 | 16.2 | 30 |",
		"| produce → visible in Redis (end to end) | 3 | 20 | 40 | the poller, 3000 samples |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("latency table lacks %q:\n%s", want, got)
		}
	}
	md := markdown(&results{Freshness: f})
	if want := "| freshness at 10,000 events/s: feathr's share, append → Redis ack, p50 / p99 / max | 1.2 / 4.5 / 9 ms (end to end p99 20, of which the broker's produce ack p99 16.2) | p99 ≤ 5 ms | ✓ | #14 |"; !strings.Contains(md, want) {
		t.Errorf("markdown lacks %q:\n%s", want, md)
	}
}
