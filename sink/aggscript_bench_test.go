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
		b.ReportMetric(cpu/float64(events), "redis-cpu-µs/event")
	}
	b.ReportMetric(cpu/float64(keys), "redis-cpu-µs/key")
	if calls == 0 { // no script ran
		return
	}
	if events > 0 {
		b.ReportMetric(usec/float64(events), "redis-µs/event")
	}
	b.ReportMetric(usec/float64(keys), "redis-µs/key")
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

// BenchmarkRowScript is the baseline of BenchmarkAggScript, and the
// measure of the row-level script against its own commands: "script" is
// setIfNewerScript writing three features of 32 keys per call, newer each
// time, its arguments built by cmdBuilder as the writer builds them;
// "floor" is a script that reads the same arguments and only runs, per
// key, the HGET and HSET of the script's usual case (rowFloorScript);
// "hset" sends the same HSETs as commands, 32 per round trip, as an
// arrival-ordered table is written. All report Redis's CPU time per key
// (INFO cpu): script ÷ floor is what the checks and the per-feature
// times cost over the commands, floor ÷ hset what running them from Lua
// costs.
func BenchmarkRowScript(b *testing.B) {
	for _, bc := range []struct{ name, src string }{{"script", setIfNewerScript}, {"floor", rowFloorScript}, {"hset", ""}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newAggEnv(b)
			cb := cmdBuilder{script: redis.NewScript(-1, bc.src)}
			if bc.src != "" {
				if err := cb.script.Load(e.c); err != nil {
					b.Fatal(err)
				}
			}
			tbl := &Table{Name: "row", HiddenTimeField: HiddenTimeField("m"), Features: []string{"f1", "f2", "f3"}}
			v1, v2 := val(b, int64(5)), val(b, 2.5)
			ws := make([]write, scriptKeys)
			for j := range ws {
				ws[j] = write{table: tbl, key: Key("row", strconv.Itoa(j)), updates: 1,
					fields: []mergedField{{name: "f1", value: v1}, {name: "f2", value: v2}, {name: "f3", value: v1}}}
			}
			before := redisCosts(e)
			b.ResetTimer()
			for i := range b.N {
				for j := range ws {
					ws[j].newest = 1_700_000_000_000 + int64(i)
					for k := range ws[j].fields {
						ws[j].fields[k].time = ws[j].newest
					}
				}
				if bc.src == "" {
					sendHSETs(b, e.c, ws)
					continue
				}
				r, err := redis.Values(e.c.Do("EVALSHA", cb.appendScript(nil, ws)...))
				if err != nil {
					b.Fatal(err)
				}
				if len(r) != len(ws) {
					b.Fatalf("the script answered %d keys of %d", len(r), len(ws))
				}
				for j, v := range r {
					if n, _ := v.(int64); n != 3 {
						b.Fatalf("key %d: %v, want 3 fields written", j, v)
					}
				}
			}
			b.StopTimer()
			redisCosts(e).report(b, before, scriptKeys*b.N, 0)
		})
	}
}

// sendHSETs writes ws with one HSET each, of the event-time field and
// the fields, in one round trip.
func sendHSETs(b *testing.B, c redis.Conn, ws []write) {
	for i := range ws {
		wr := &ws[i]
		args := []any{wr.key, HiddenTimeField("m"), wr.newest}
		for _, f := range wr.fields {
			args = append(args, f.name, f.value)
		}
		if err := c.Send("HSET", args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	for range ws {
		if _, err := c.Receive(); err != nil {
			b.Fatal(err)
		}
	}
}

// rowFloorScript reads setIfNewerScript's arguments and runs only the
// commands of its usual case: per key, an HGET of the event-time field
// and one HSET of it and the fields.
const rowFloorScript = `
local tf, nf = ARGV[1], tonumber(ARGV[5])
local i, res = 6 + nf, {}
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  redis.call('HGET', KEYS[k], tf)
  redis.call('HSET', KEYS[k], tf, ARGV[i + 1], unpack(ARGV, i + 2, i + 1 + 2 * n))
  res[k] = n
  i = i + 2 + 2 * n
end
return res
`
