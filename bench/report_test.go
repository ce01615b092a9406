package main

import (
	"strings"
	"testing"
)

// Tests of the report: its tables and its number formats.

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

func TestFreshLatencyTable(t *testing.T) {
	f := &freshResult{
		Rate: 10000, TimestampType: "LogAppendTime", Samples: 3000,
		Pipeline: &percentiles{P50: 1.2, P99: 4.5, Max: 9},
		ToWriter: &percentiles{P50: 0.7, P99: 3, Max: 8}, InWriter: &percentiles{P50: 0.5, P99: 2.5, Max: 4}, SplitSampled: 4687,
		Poller:     &percentiles{P50: 3, P99: 20, Max: 40},
		ProduceAck: &percentiles{P50: 2, P99: 16.2, Max: 30},
		AppendCheck: &appendCheck{Records: 300000, LogAppendTime: 300000, Sampled: 50000,
			AppendMinusProduce: &percentiles{P50: 1, P99: 12, Max: 25}, MinMs: -0.4},
	}
	got := f.latencyTable()
	for _, want := range []string{
		"| produce → broker append | 1 | 12 | 25 | 50,000 records read back (300,000 of 300,000 with LogAppendTime), append time − datetime |",
		"| **append → Redis ack (feathr's share)** | 1.2 | 4.5 | 9 | feathr's summary, `freshness_ms` |\n" +
			"| of which append → handed to the writer (fetch wait, sarama, decode, transforms) | 0.7 | 3 | 8 | feathr's summary, `freshness_split_ms`, 4,687 records sampled |\n" +
			"| of which handed to the writer → Redis ack (batch, writes in flight, Redis) | 0.5 | 2.5 | 4 |",
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
