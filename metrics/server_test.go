package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/hist"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/sink"
)

// fixedRun is a run whose counters are given.
type fixedRun struct {
	sources    []pipeline.SourceStats
	partitions []pipeline.PartitionStats
	fresh      *hist.Histogram
	toWriter   *hist.Histogram
	inWriter   *hist.Histogram
}

func (r fixedRun) SourceStats() []pipeline.SourceStats   { return r.sources }
func (r fixedRun) Partitions() []pipeline.PartitionStats { return r.partitions }
func (r fixedRun) Freshness() *hist.Histogram            { return r.fresh }
func (r fixedRun) FreshnessSplit() (toWriter, inWriter *hist.Histogram) {
	return r.toWriter, r.inWriter
}

type fixedWriter sink.WriterStats

func (w fixedWriter) Stats() sink.WriterStats { return sink.WriterStats(w) }

func TestServer(t *testing.T) {
	m := New("v9.8.7")
	fresh, toWriter, inWriter := &hist.Histogram{}, &hist.Histogram{}, &hist.Histogram{}
	m.Watch(fixedRun{
		fresh: fresh, toWriter: toWriter, inWriter: inWriter,
		sources: []pipeline.SourceStats{{
			Source: "trips", Read: 10, DecodeErrors: 1, Rebalances: 2,
			Materializations: []pipeline.MaterializationStats{
				{Materialization: "a", Written: 7, Skipped: 1, DeadLettered: 0, KeyErrors: 2, FeatureErrors: 0},
				{Materialization: "b", Written: 9, Skipped: 0, DeadLettered: 1, KeyErrors: 0, FeatureErrors: 0},
			},
		}},
		partitions: []pipeline.PartitionStats{{Source: "trips", Topic: "t", Partition: 0, Lag: 5}, {Source: "trips", Topic: "t", Partition: 3, Lag: 0}},
	}, fixedWriter{Batches: 3, Commands: 20, Updates: 16, Stale: 1, Retries: 4, Errors: 5, Dropped: 6, QueuedBytes: 7})
	m.ObserveBatch(sink.BatchInfo{Updates: 10, Writes: 8, Commands: 12, RoundTrip: 3 * time.Millisecond})
	fresh.Observe(20 * time.Millisecond)
	fresh.Observe(2 * time.Second)
	toWriter.Observe(15 * time.Millisecond)
	inWriter.Observe(5 * time.Millisecond)

	var ready atomic.Bool
	srv, err := Listen("127.0.0.1:0", m, func(context.Context) error {
		if !ready.Load() {
			return errors.New("not yet")
		}
		return nil
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "not yet") {
		t.Errorf("/readyz before ready: %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d, want 200", code)
	}
	if code, _ := get(t, base+"/nothing"); code != 404 {
		t.Errorf("/nothing: %d, want 404", code)
	}

	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	got := parseText(t, body)
	want := map[string]float64{
		`feathr_build_info{version="v9.8.7"}`:                                           1,
		`feathr_records_read_total{materialization="a",source="trips"}`:                 10,
		`feathr_records_read_total{materialization="b",source="trips"}`:                 10,
		`feathr_records_written_total{materialization="a",source="trips"}`:              7,
		`feathr_records_written_total{materialization="b",source="trips"}`:              9,
		`feathr_records_skipped_total{materialization="a",source="trips"}`:              1,
		`feathr_records_dead_lettered_total{materialization="b",source="trips"}`:        1,
		`feathr_record_errors_total{kind="decode",materialization="a",source="trips"}`:  1,
		`feathr_record_errors_total{kind="key",materialization="a",source="trips"}`:     2,
		`feathr_record_errors_total{kind="feature",materialization="b",source="trips"}`: 0,
		`feathr_rebalances_total{source="trips"}`:                                       2,
		`feathr_consumer_lag{partition="0",source="trips",topic="t"}`:                   5,
		`feathr_consumer_lag{partition="3",source="trips",topic="t"}`:                   0,
		`feathr_partitions_assigned{source="trips"}`:                                    2,
		`feathr_redis_batches_total`:                                                    3,
		`feathr_redis_write_retries_total`:                                              4,
		`feathr_redis_write_errors_total`:                                               5,
		`feathr_redis_stale_updates_total`:                                              1,
		`feathr_redis_dropped_updates_total`:                                            6,
		`feathr_redis_queued_bytes`:                                                     7,
		`feathr_redis_batch_updates_count`:                                              1,
		`feathr_redis_batch_updates_sum`:                                                10,
		`feathr_redis_roundtrip_seconds_count`:                                          1,
		`feathr_redis_roundtrip_seconds_sum`:                                            0.003,
		`feathr_freshness_seconds_count`:                                                2,
		`feathr_freshness_seconds_bucket{le="0.01"}`:                                    0,
		`feathr_freshness_seconds_bucket{le="0.025"}`:                                   1,
		`feathr_freshness_seconds_bucket{le="2.5"}`:                                     2,
		`feathr_freshness_seconds_bucket{le="+Inf"}`:                                    2,
		`feathr_freshness_part_seconds_count{part="to_writer"}`:                         1,
		`feathr_freshness_part_seconds_bucket{part="to_writer",le="0.01"}`:              0,
		`feathr_freshness_part_seconds_bucket{part="to_writer",le="0.025"}`:             1,
		`feathr_freshness_part_seconds_bucket{part="in_writer",le="0.005"}`:             1,
		`feathr_freshness_seconds_sum`:                                                  2.02,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
}

func TestListenBusy(t *testing.T) {
	m := New("v")
	srv, err := Listen("127.0.0.1:0", m, func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if _, err := Listen(srv.Addr().String(), m, nil, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "metrics: listen tcp") {
		t.Errorf("second Listen on %s: %v, want an address in use error", srv.Addr(), err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// parseText reads the samples of the Prometheus text format: name{labels}
// (labels as printed, sorted by name) → value.
func parseText(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
