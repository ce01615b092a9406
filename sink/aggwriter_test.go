package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// aggFeatures are one feature of every function, for the writer's tests.
func aggFeatures() []AggFeature {
	m, h := time.Minute, time.Hour
	return []AggFeature{
		{"f_count", spec(window.Count, 10*m, m, m), feature.Int64},
		{"f_sum", spec(window.Sum, h, 5*m, 5*m), feature.Int64},
		{"f_avg", spec(window.Avg, window.Day, 2*h, 2*h), feature.Double},
		{"f_min", spec(window.Min, h, 5*m, 0), feature.Double},
		{"f_max", spec(window.Max, h, 5*m, 5*m), feature.Int32},
		{"f_latest", spec(window.Latest, h, 5*m, 5*m), feature.String},
		{"f_maxp", spec(window.MaxPooling, h, 5*m, 5*m), feature.Int64Vector},
		{"f_avgp", spec(window.AvgPooling, h, 5*m, 5*m), feature.DoubleVector},
		{"f_distinct", spec(window.CountDistinct, h, 5*m, 5*m), feature.Int64},
	}
}

// aggWorkload is random events of keys, their reference values, and the
// updates that carry them, some of them twice (a replay).
type aggWorkload struct {
	table   *Table
	keys    []string
	refs    map[string][]*window.Reference // per key, per feature
	updates []Update
	late    int // rows of late events
	dups    int // events submitted twice
	// sumsHLL: the server's PFCOUNT of several keys sums their counts
	// (miniredis) rather than counting their union: COUNT_DISTINCT is
	// not checked.
	sumsHLL bool
}

// newAggWorkload makes n events of nkeys keys over two partitions, at
// times up to 50 minutes before now (out of order), with null and
// filtered-out inputs, a few late ones, and replays.
func newAggWorkload(t testing.TB, table string, nkeys, n int, seed uint64) *aggWorkload {
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	return newAggWorkloadOf(t, table, keys, n, seed, aggFeatures())
}

// newAggWorkloadOf is newAggWorkload of the entity keys keys and the
// features fs.
func newAggWorkloadOf(t testing.TB, table string, keys []string, n int, seed uint64, fs []AggFeature) *aggWorkload {
	nkeys := len(keys)
	tbl, err := NewTable("m", config.RedisSink{Table: table}, nil, fs...)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(seed, 1))
	w := &aggWorkload{table: tbl, refs: map[string][]*window.Reference{}}
	for _, key := range keys {
		k := Key(table, key)
		w.keys = append(w.keys, key)
		for _, f := range fs {
			w.refs[k] = append(w.refs[k], window.NewReference(f.Spec))
		}
	}
	now := time.Now().UnixMilli()
	offsets := [2]int64{}
	for range n {
		part := rnd.IntN(2)
		offsets[part]++
		k := Key(table, w.keys[rnd.IntN(nkeys)])
		tm := now - rnd.Int64N(50*60*1000)
		late := rnd.IntN(50) == 0
		if late {
			tm = now - 2*window.Day.Milliseconds() - rnd.Int64N(1000)
		}
		ev := &AggEvent{Topic: "trips", Partition: int32(part), Offset: offsets[part], Time: tm, Inputs: make([]window.Input, len(fs))}
		x := rnd.IntN(20) - 5
		for j, f := range fs {
			in := window.Input{Kind: window.InputValue, Num: float64(x)}
			switch r := rnd.IntN(10); {
			case r == 0:
				in.Kind = window.InputNull
			case r == 1:
				in.Kind = window.InputSkip
			}
			switch f.Spec.Func {
			case window.Latest:
				in.Value, _ = AppendValue(nil, fmt.Sprint("v", x))
			case window.MaxPooling, window.AvgPooling:
				in.Vec = []float64{float64(x), float64(-x), 3}
			case window.CountDistinct:
				in.Hash = uint64(x) * 0x9e3779b97f4a7c15
			}
			ev.Inputs[j] = in
			if w.refs[k][j].Add(now, tm, in) == window.Late {
				w.late++
			}
		}
		u := Update{Table: tbl, Key: k, EventTime: tm, Agg: ev}
		w.updates = append(w.updates, u)
		if rnd.IntN(10) == 0 {
			w.updates = append(w.updates, u) // a replay of the same record
			w.dups++
		}
	}
	return w
}

// check compares what GetAt reads at several times, and the stored
// fields, with the reference.
func (w *aggWorkload) check(t *testing.T, st *Store) {
	t.Helper()
	names := make([]string, len(w.table.Aggregations()))
	for i, f := range w.table.Aggregations() {
		names[i] = f.Name
	}
	now := time.Now().UnixMilli()
	r := st.NewReader()
	for _, T := range []int64{now, now + 5*60*1000, now + 30*60*1000, now + 2*3600*1000} {
		got, err := r.GetAt(context.Background(), w.table, w.keys, names, T)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range w.keys {
			for j, f := range w.table.Aggregations() {
				if w.sumsHLL && f.Spec.Func == window.CountDistinct {
					continue
				}
				want := refValue(t, w.refs[Key(w.table.Name, k)][j], f, T)
				if !agree(f, got[i][j], want) {
					t.Errorf("T=now+%dm key %s %s: got %v, want %v", (T-now)/60000, k, f.Name, got[i][j], want)
				}
			}
		}
	}
	// The stored fields hold the values at the time of the last write:
	// the same as at now, unless a tile boundary passed since.
	stored, err := r.Get(context.Background(), w.table.Name, w.keys, names)
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().UnixMilli()%60000 < 5000 {
		return // a minute tile may have just left a window
	}
	for i, k := range w.keys {
		for j, f := range w.table.Aggregations() {
			if w.sumsHLL && f.Spec.Func == window.CountDistinct {
				continue
			}
			if want := refValue(t, w.refs[Key(w.table.Name, k)][j], f, now); !agree(f, stored[i][j], want) {
				t.Errorf("stored key %s %s: got %v, want %v", k, f.Name, stored[i][j], want)
			}
		}
	}
}

// refValue is the reference's value at T, as the store holds it.
func refValue(t testing.TB, r *window.Reference, f AggFeature, T int64) any {
	v := r.Value(T)
	if v == nil {
		return nil
	}
	if f.Spec.Func == window.Latest {
		d, err := DecodeValue(v.([]byte))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return window.Output(v, f.Type)
}

func submitAll(t testing.TB, w *Writer, us []Update) {
	t.Helper()
	for _, u := range us {
		if err := w.Submit(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, w)
}

func TestWriterAggregations(t *testing.T) {
	e := newEnv(t)
	st := e.store
	w := st.NewWriter(WriterOptions{BatchSize: 50, Conns: 3})
	defer w.Close()
	wl := newAggWorkload(t, "t", 20, 2000, 1)
	submitAll(t, w, wl.updates)
	wl.check(t, st)
	s := w.Stats()
	if s.AggApplied != int64(len(wl.updates)-wl.dups) || s.AggDuplicates != int64(wl.dups) || s.AggLate != int64(wl.late) || s.AggRejected != 0 {
		t.Errorf("stats %+v; want %d applied, %d duplicates, %d late", s.AggStats, len(wl.updates)-wl.dups, wl.dups, wl.late)
	}
	// The same records again, as a second consumer group reads them:
	// nothing changes.
	submitAll(t, w, wl.updates)
	wl.check(t, st)
	if d := w.Stats().AggDuplicates - s.AggDuplicates; d != int64(len(wl.updates)) {
		t.Errorf("replay: %d duplicates, want %d", d, len(wl.updates))
	}
}

// TestWriterAggregationsKilled kills the writer's connections again and
// again while it writes: every event is still applied once.
func TestWriterAggregationsKilled(t *testing.T) {
	e := newEnv(t)
	st := e.store
	w := st.NewWriter(WriterOptions{BatchSize: 20, Conns: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	defer w.Close()
	wl := newAggWorkload(t, "t", 10, 3000, 2)
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		c, err := redis.Dial("tcp", e.srv.Addr())
		if err != nil {
			killed <- 0
			return
		}
		defer c.Close()
		n := 0
		for {
			select {
			case <-stop:
				killed <- n
				return
			case <-time.After(2 * time.Millisecond):
			}
			if k, err := redis.Int(c.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")); err == nil {
				n += k
			}
		}
	}()
	submitAll(t, w, wl.updates)
	close(stop)
	if n := <-killed; n == 0 {
		t.Error("no connection was killed")
	}
	wl.check(t, st)
	if s := w.Stats(); s.AggApplied+s.AggDuplicates < int64(len(wl.updates)) {
		t.Errorf("stats %+v for %d updates", s.AggStats, len(wl.updates))
	}
}

func TestClusterWriterAggregations(t *testing.T) {
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{BatchSize: 50, Conns: 2})
	wl := newAggWorkload(t, "t", 30, 1500, 3)
	submitAll(t, w, wl.updates)
	wl.check(t, e.store)
	s := w.Stats()
	if s.AggApplied != int64(len(wl.updates)-wl.dups) || s.AggDuplicates != int64(wl.dups) {
		t.Errorf("stats %+v; want %d applied, %d duplicates", s.AggStats, len(wl.updates)-wl.dups, wl.dups)
	}
	// Every state key and index shard is in its key's slot, on the
	// key's master.
	for _, k := range wl.keys {
		K := Key("t", k)
		if v := e.rc.Do(e.rc.Owner(redisc.Slot(K)), "EXISTS", stateKey(K, "m")); v != int64(1) {
			t.Errorf("state of %s not on its master: %v", K, v)
		}
	}
}

// TestClusterAggregationsMigrating writes aggregations of keys of one
// slot while the slot moves to another master, a few keys at a time: the
// writer waits while the source answers ASK (see errSlotMigrating) and
// retries past "non local key" errors and TRYAGAIN, the migration never
// meets a key on both sides (BUSYKEY), and every aggregate equals the
// reference.
func TestClusterAggregationsMigrating(t *testing.T) {
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{BatchSize: 20, Conns: 2, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	slot := redisc.Slot(Key("t", "x"))
	wl := newAggWorkloadOf(t, "t", keysInSlot("t", slot, 12), 1200, 5, aggFeatures())
	third := len(wl.updates) / 3
	submitAll(t, w, wl.updates[:third])

	done := make(chan error, 1)
	go func() {
		for i := third; i < len(wl.updates); i++ {
			if err := w.Submit(context.Background(), wl.updates[i]); err != nil {
				done <- err
				return
			}
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		done <- w.Flush(context.Background())
	}()
	from := e.rc.Owner(slot)
	to := e.rc.Addrs()[0]
	if to == from {
		to = e.rc.Addrs()[1]
	}
	e.rc.BeginMigration(slot, to)
	moved := 0
	for {
		n := e.rc.MigrateKeys(slot, from, to, 2)
		if n == 0 && moved > 0 {
			break
		}
		moved += n
		time.Sleep(3 * time.Millisecond)
	}
	e.rc.FinishMigration(slot, from, to)
	e.rc.WaitAgreed()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("writes not done 30 s after the slot moved; stats %+v", w.Stats())
	}
	wl.check(t, e.store)
	if s := w.Stats(); s.Retries == 0 {
		t.Errorf("writer stats %+v: no write waited for the migration", s)
	}
}

// TestWriterAggregationsRejected writes a POOLING vector of another
// length than the feature's tiles: counted and logged with its key.
func TestWriterAggregationsRejected(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	w := e.store.NewWriter(WriterOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer w.Close()
	tbl, err := NewTable("m", config.RedisSink{Table: "t"}, nil,
		AggFeature{"f_pool", spec(window.MaxPooling, time.Hour, 5*time.Minute, 0), feature.DoubleVector})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var us []Update
	for i, v := range [][]float64{{1, 2}, {3}, {4, 5}} {
		us = append(us, Update{Table: tbl, Key: Key("t", "k"), EventTime: now, Agg: &AggEvent{Topic: "t", Offset: int64(i), Time: now,
			Inputs: []window.Input{{Kind: window.InputValue, Vec: v}}}})
	}
	submitAll(t, w, us)
	if s := w.Stats(); s.AggRejected != 1 || s.AggApplied != 3 {
		t.Errorf("stats %+v", s.AggStats)
	}
	if !strings.Contains(logs.String(), "key=t:k rejected=1") {
		t.Errorf("log: %s", logs.String())
	}
	got, err := e.store.NewReader().GetAt(context.Background(), tbl, []string{"k"}, []string{"f_pool"}, now)
	if err != nil || fmt.Sprint(got) != "[[[4 5]]]" {
		t.Errorf("f_pool %v, %v", got, err)
	}
}
