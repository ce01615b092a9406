package sink

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
)

// BenchmarkWriter submits updates to a real redis-server and reports the
// throughput and the server's CPU time per key written. "distinct" never
// repeats a key within 200,000 updates; "hot" cycles over 1,000 keys, so
// batches coalesce; both write three fields. "seed" writes the four
// features of the Feathr streaming example (features.example.yaml) to
// 10,000 keys, each update newer than the last.
func BenchmarkWriter(b *testing.B) {
	e := newEnv(b)
	three := []Field{{"f1", val(b, int64(1))}, {"f2", val(b, 2.5)}, {"f3", val(b, "a string value")}}
	threeNames := []string{"f1", "f2", "f3"}
	for _, ord := range []config.Ordering{config.OrderEvent, config.OrderArrival} {
		for _, kc := range []struct {
			name string
			n    int
		}{{"distinct", 200_000}, {"hot", 1000}} {
			b.Run(ord.String()+"/"+kc.name, func(b *testing.B) {
				w := newWriter(b, e, WriterOptions{})
				tbl := &Table{Name: "bench" + ord.String() + kc.name, Ordering: ord, HiddenTimeField: HiddenTimeField("m"), Features: threeNames}
				benchSubmit(b, e, w, tbl, kc.n, three)
			})
		}
	}
	b.Run("event/seed", func(b *testing.B) {
		w := newWriter(b, e, WriterOptions{})
		tbl := &Table{Name: "benchseed", HiddenTimeField: HiddenTimeField("kafkaSampleDemo"), Features: benchFeatures}
		seed := []Field{{benchFeatures[0], val(b, int32(12))}, {benchFeatures[1], val(b, int32(11))},
			{benchFeatures[2], val(b, true)}, {benchFeatures[3], val(b, 0.5)}}
		benchSubmit(b, e, w, tbl, 10_000, seed)
	})
}

// BenchmarkWriterCluster compares the writer's throughput into one
// redis-server with its throughput into a 3-master cluster, in the same
// sitting, with the default options and event-time ordering.
func BenchmarkWriterCluster(b *testing.B) {
	single := newEnv(b)
	ce := newClusterEnv(b)
	for _, c := range []struct {
		name string
		make func() *Writer
	}{
		{"single", func() *Writer { return newWriter(b, single, WriterOptions{}) }},
		{"cluster3", func() *Writer { return ce.writer(WriterOptions{}) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := c.make()
			defer w.Close()
			benchSubmit(b, nil, w, &Table{Name: "bench", HiddenTimeField: HiddenTimeField("m"), Features: []string{"f1", "f2", "f3"}}, 10000,
				[]Field{{"f1", val(b, int64(1))}, {"f2", val(b, 2.5)}, {"f3", val(b, "a string value")}})
		})
	}
}

// benchSubmit submits updates of fields, cycling over n keys of tbl, for
// as long as the benchmark runs, flushes, reports updates/s, and checks
// that every update was acknowledged. With e (nil for a cluster) it also
// reports the server's CPU time per key written (redis-cpu-ns/write, from
// INFO cpu) and the part of it spent in the writer's commands
// (redis-cmd-ns/write, from INFO commandstats).
func benchSubmit(b *testing.B, e *env, w *Writer, tbl *Table, n int, fields []Field) {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Key(tbl.Name, strconv.Itoa(i))
	}
	var before redisCPU
	if e != nil {
		before = e.cpu()
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := Update{Table: tbl, Key: keys[i%len(keys)], Fields: fields, EventTime: int64(i)}
		if err := w.Submit(ctx, u); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "updates/s")
	st := w.Stats()
	if st.Updates != int64(i) {
		b.Fatalf("acknowledged %d updates of %d", st.Updates, i)
	}
	if e != nil && st.Writes > 0 {
		after := e.cpu()
		b.ReportMetric(float64(after.cpu-before.cpu)/float64(st.Writes), "redis-cpu-ns/write")
		b.ReportMetric(float64(after.commands-before.commands)/float64(st.Writes), "redis-cmd-ns/write")
	}
}

// redisCPU is a redis-server's CPU time so far and the part of it spent
// running the writer's commands.
type redisCPU struct {
	cpu      time.Duration // used_cpu_user + used_cpu_sys (INFO cpu)
	commands time.Duration // usec of EVALSHA, HSET and PEXPIRE (INFO commandstats)
}

// cpu reads the server's redisCPU.
func (e *env) cpu() redisCPU {
	e.t.Helper()
	var r redisCPU
	info, _ := redis.String(e.do("INFO", "cpu"), nil)
	for _, line := range strings.Split(info, "\n") {
		name, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_user" || name == "used_cpu_sys" {
			s, _ := strconv.ParseFloat(v, 64)
			r.cpu += time.Duration(s * float64(time.Second))
		}
	}
	info, _ = redis.String(e.do("INFO", "commandstats"), nil)
	for _, line := range strings.Split(info, "\n") {
		name, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch name {
		case "cmdstat_evalsha", "cmdstat_hset", "cmdstat_pexpire":
			for _, kv := range strings.Split(v, ",") {
				if us, ok := strings.CutPrefix(kv, "usec="); ok {
					n, _ := strconv.ParseInt(us, 10, 64)
					r.commands += time.Duration(n) * time.Microsecond
				}
			}
		}
	}
	return r
}
