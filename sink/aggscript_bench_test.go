package sink

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// issueFeatures are the example of issue 13: COUNT over 10m, SUM over 1h
// (default hops, 1m and 5m) and AVG over 1d with a hop of 1h; allowed
// lateness one hop.
func issueFeatures() []AggFeature {
	f := func(name string, fn window.Func, w, h time.Duration, ty feature.Type) AggFeature {
		return AggFeature{name, window.Spec{Func: fn, Window: w, Hop: h, Lateness: h}, ty}
	}
	return []AggFeature{
		f("f_trip_count_10m", window.Count, 10*time.Minute, time.Minute, feature.Int64),
		f("f_trips_sum_1h", window.Sum, time.Hour, 5*time.Minute, feature.Int64),
		f("f_trips_avg_1d", window.Avg, window.Day, time.Hour, feature.Double),
	}
}

// redisCost is what Redis spent: the calls of EVALSHA and the
// microseconds spent in them (INFO commandstats: wall time, which a busy
// machine inflates), and the CPU time of the whole server (INFO cpu, user
// and system).
type redisCost struct{ calls, usec, cpu float64 }

func redisCosts(e *aggEnv) redisCost {
	var rc redisCost
	for _, section := range []string{"commandstats", "cpu"} {
		info := string(e.do("INFO", section).([]byte))
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
				for _, kv := range strings.Split(rest, ",") {
					k, v, _ := strings.Cut(kv, "=")
					f, _ := strconv.ParseFloat(v, 64)
					switch k {
					case "calls":
						rc.calls = f
					case "usec":
						rc.usec = f
					}
				}
			}
			for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
				if v, ok := strings.CutPrefix(line, k); ok {
					f, _ := strconv.ParseFloat(v, 64)
					rc.cpu += f * 1e6
				}
			}
		}
	}
	return rc
}

// report reports the cost since before per event, per key and per call.
func (rc redisCost) report(b *testing.B, before redisCost, keys, events int) {
	usec, cpu, calls := rc.usec-before.usec, rc.cpu-before.cpu, rc.calls-before.calls
	if events > 0 {
		b.ReportMetric(usec/float64(events), "redis-µs/event")
		b.ReportMetric(cpu/float64(events), "redis-cpu-µs/event")
	}
	b.ReportMetric(usec/float64(keys), "redis-µs/key")
	b.ReportMetric(cpu/float64(keys), "redis-cpu-µs/key")
	b.ReportMetric(usec/calls, "redis-µs/call")
}

// aggBench sends the issue's features' events to keys of a warm pool.
type aggBench struct {
	e      *aggEnv
	am     *aggMaterialization
	keys   []string
	offset int64
	now    int64
	seq    int
	age    int64 // events are up to age ms old
}

func (ab *aggBench) events(n int) []AggEvent {
	evs := make([]AggEvent, n)
	for i := range evs {
		ab.offset++
		ab.seq++
		trips := float64(ab.seq%17 + 1)
		evs[i] = AggEvent{Topic: "trips", Partition: 0, Offset: ab.offset, Time: ab.now - int64(ab.seq*7919)%ab.age,
			Inputs: []window.Input{{Kind: window.InputValue}, {Kind: window.InputValue, Num: trips}, {Kind: window.InputValue, Num: trips / 2}}}
	}
	return evs
}

// newAggBench returns n keys, each with a day of events (one per 10
// minutes), so that every feature has a full window of tiles.
func newAggBench(b testing.TB, e *aggEnv, m string, n int) *aggBench {
	ab := &aggBench{e: e, am: mustAgg(b, m, issueFeatures()...), now: 1_700_000_000_000, age: 2000}
	for i := range n {
		k := Key(m, strconv.Itoa(i))
		ab.keys = append(ab.keys, k)
		evs := ab.events(144)
		for j := range evs {
			evs[j].Time = ab.now - int64(j)*600_000
		}
		e.apply(ab.am, ab.now, 0, []aggKeyEvents{{k, evs}})
	}
	return ab
}

// BenchmarkAggScript measures one call of the aggregation script with the
// issue's three features: Redis's own time (INFO commandstats) per event,
// per key and per call, besides the round trip (ns/op, a call). Keys are
// warm (a day of events) and events up to 2s old, but for "age=60s"
// (events up to a minute old, so often in an older tile) and "cold" (keys
// without state).
func BenchmarkAggScript(b *testing.B) {
	e := newAggEnv(b)
	for _, bc := range []struct {
		name         string
		keys, events int
		age          int64
		cold         bool
	}{
		{"keys=1/events=1", 1, 1, 2000, false},
		{"keys=32/events=1", 32, 1, 2000, false},
		{"keys=1/events=100", 1, 100, 2000, false},
		{"keys=8/events=16", 8, 16, 2000, false},
		{"keys=32/events=1/age=60s", 32, 1, 60000, false},
		{"keys=32/events=1/cold", 32, 1, 2000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e.runs++
			m := "bench" + strconv.Itoa(e.runs) + "_" + strings.NewReplacer("/", "_", "=", "").Replace(bc.name)
			n := 256
			if bc.cold {
				n = 0
			}
			ab := newAggBench(b, e, m, n)
			ab.age = bc.age
			before := redisCosts(e)
			next := 0
			b.ResetTimer()
			for range b.N {
				ab.now += 50
				batch := make([]aggKeyEvents, bc.keys)
				for i := range batch {
					k := Key(m, "cold"+strconv.Itoa(next))
					if !bc.cold {
						k = ab.keys[next%len(ab.keys)]
					}
					batch[i] = aggKeyEvents{k, ab.events(bc.events)}
					next++
				}
				e.apply(ab.am, ab.now, 0, batch)
			}
			b.StopTimer()
			redisCosts(e).report(b, before, b.N*bc.keys, b.N*bc.keys*bc.events)
		})
	}
}

// BenchmarkAggRefresh measures the refresh of warm keys, 32 per call, and
// the Go read of one key's features from its state (a round trip).
func BenchmarkAggRefresh(b *testing.B) {
	e := newAggEnv(b)
	e.runs++
	ab := newAggBench(b, e, "benchr"+strconv.Itoa(e.runs), 256)
	b.Run("refresh/keys=32", func(b *testing.B) {
		before := redisCosts(e)
		for i := range b.N {
			ab.now += 50
			e.refresh(ab.am, ab.now, ab.keys[i%8*32:i%8*32+32]...)
		}
		redisCosts(e).report(b, before, 32*b.N, 0)
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			_ = e.read(ab.am, ab.keys[i%len(ab.keys)], ab.now)
		}
	})
}

// BenchmarkRowScript is the baseline of BenchmarkAggScript: the
// row-level script (setIfNewerScript) writing three features of 32 keys
// per call, measured the same way.
func BenchmarkRowScript(b *testing.B) {
	e := newAggEnv(b)
	sc := aggRowScript()
	if err := sc.Load(e.c); err != nil {
		b.Fatal(err)
	}
	v1, _ := AppendValue(nil, int64(5))
	v2, _ := AppendValue(nil, 2.5)
	before := redisCosts(e)
	for i := range b.N {
		args := []any{sc.Hash(), 32}
		for j := range 32 {
			args = append(args, "row:"+strconv.Itoa((i*32+j)%256))
		}
		args = append(args, "__t", 0)
		for range 32 {
			args = append(args, 3, 1_700_000_000_000+i, "f1", v1, "f2", v2, "f3", v1)
		}
		if _, err := e.c.Do("EVALSHA", args...); err != nil {
			b.Fatal(err)
		}
	}
	redisCosts(e).report(b, before, 32*b.N, 32*b.N)
}

func aggRowScript() *redis.Script { return redis.NewScript(-1, setIfNewerScript) }
