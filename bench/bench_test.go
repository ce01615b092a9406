package main

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/feathrgo/feathr/decode"
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
