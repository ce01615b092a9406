package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
)

// Tests of the freshness measure: the poller, the latency percentiles and
// the produce time the append check reads.

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
