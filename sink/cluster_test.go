package sink

import (
	"context"
	"errors"
	"github.com/feathrgo/feathr/config"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/internal/testenv"
)

// clusterEnv is a private 3-master Redis Cluster and a Store of it.
type clusterEnv struct {
	t     testing.TB
	rc    *testenv.RedisCluster
	store *Store
	cl    *cluster // the store's
}

func newClusterEnv(t testing.TB) *clusterEnv {
	rc := testenv.StartRedisCluster(t, 3)
	// One seed is enough: the others are learned from CLUSTER SLOTS.
	st := open(t, Options{Addr: rc.Addrs()[1], Cluster: true, ReadTimeout: 5 * time.Second})
	return &clusterEnv{t: t, rc: rc, store: st, cl: st.b.(*cluster)}
}

func (e *clusterEnv) writer(o WriterOptions) *Writer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := e.store.NewWriter(o)
	e.t.Cleanup(func() { w.Close() })
	return w
}

// nodeConns returns a direct connection to each master, closed at the
// end of the test.
func (e *clusterEnv) nodeConns() map[string]redis.Conn {
	conns := make(map[string]redis.Conn)
	for _, a := range e.rc.Addrs() {
		c, err := redis.Dial("tcp", a)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { c.Close() })
		conns[a] = c
	}
	return conns
}

// hget reads a field of key straight from the master that owns its slot
// (as the cluster itself says), without the code under test.
func (e *clusterEnv) hget(conns map[string]redis.Conn, owners *[16384]string, key, field string) []byte {
	e.t.Helper()
	c := conns[owners[redisc.Slot(key)]]
	b, err := redis.Bytes(c.Do("HGET", key, field))
	if errors.Is(err, redis.ErrNil) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("HGET %s %s: %v", key, field, err)
	}
	return b
}

// keysInSlot returns n entity keys of table whose Redis keys hash to slot.
func keysInSlot(table string, slot, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := "s" + strconv.Itoa(i)
		if redisc.Slot(Key(table, k)) == slot {
			out = append(out, k)
		}
	}
	return out
}

func TestClusterWriterRoundTrip(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{Conns: 2, BatchSize: 300})
	ev := &Table{Name: "ev", HiddenTimeField: HiddenTimeField("m")}
	arr := &Table{Name: "arr", Ordering: config.OrderArrival, TTL: time.Hour}
	var a acks
	const n = 2000
	seq := int64(0)
	for i := range n {
		k := strconv.Itoa(i)
		// Two updates per key and table, the older one last: event time
		// keeps the newer, arrival the last.
		submit(t, w,
			upd(t, ev, Key(ev.Name, k), 200, &a, seq, "f", int64(i), "g", "new"),
			upd(t, ev, Key(ev.Name, k), 100, &a, seq+1, "f", int64(-1), "g", "old"),
			upd(t, arr, Key(arr.Name, k), 200, &a, seq+2, "f", int64(-1)),
			upd(t, arr, Key(arr.Name, k), 100, &a, seq+3, "f", int64(i)),
		)
		seq += 4
	}
	flush(t, w)
	if got := a.count(); got != int(seq) {
		t.Fatalf("acks = %d, want %d", got, seq)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}

	// Every key is on the master of its slot, and all masters got some.
	owners := e.rc.Owners()
	conns := e.nodeConns()
	perNode := make(map[string]int)
	for _, k := range e.rc.Keys() {
		perNode[owners[redisc.Slot(k)]]++
	}
	if len(perNode) != 3 {
		t.Errorf("keys per master = %v, want all 3 masters", perNode)
	}
	for i := range n {
		k := strconv.Itoa(i)
		if v, _ := DecodeValue(e.hget(conns, &owners, Key(ev.Name, k), "f")); v != int64(i) {
			t.Fatalf("ev key %s: f = %v, want %d", k, v, i)
		}
		if v, _ := DecodeValue(e.hget(conns, &owners, Key(arr.Name, k), "f")); v != int64(i) {
			t.Fatalf("arr key %s: f = %v, want %d", k, v, i)
		}
	}
	c := conns[owners[redisc.Slot(Key(arr.Name, "7"))]]
	if ttl, err := redis.Int64(c.Do("PTTL", Key(arr.Name, "7"))); err != nil || ttl <= 0 {
		t.Errorf("PTTL = %d, %v: want the TTL set", ttl, err)
	}

	// Multi-get across slots, with missing keys and features.
	keys := []string{"0", "1999", "nope", "42"}
	for i := range 600 {
		keys = append(keys, strconv.Itoa(i*3))
	}
	got, err := e.store.NewReader().Get(context.Background(), ev.Name, keys, []string{"f", "g", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		row := got[i]
		if k == "nope" {
			if row[0] != nil || row[1] != nil || row[2] != nil {
				t.Errorf("missing key: %v", row)
			}
			continue
		}
		want, _ := strconv.Atoi(k)
		if row[0] != int64(want) || row[1] != "new" || row[2] != nil {
			t.Errorf("key %s: %v", k, row)
		}
	}
	st := w.Stats()
	if st.Stale != int64(n) || st.Updates != seq {
		t.Errorf("stats = %+v: want %d stale, %d updates", st, n, seq)
	}
}

// TestClusterWriterScriptForms writes through a cluster, one script call
// per key, both forms of the script's arguments (fields of one event time,
// and a coalesced write whose fields come from events of different times,
// each judged against the stored time), a stale key and TTLs, and checks
// what the batch reports.
func TestClusterWriterScriptForms(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	var mu sync.Mutex
	var infos []BatchInfo
	w := e.writer(WriterOptions{FlushInterval: time.Hour, Conns: 1, OnBatch: func(bi BatchInfo) {
		mu.Lock()
		infos = append(infos, bi)
		mu.Unlock()
	}})
	tbl := &Table{Name: "cf", TTL: time.Minute, HiddenTimeField: HiddenTimeField("m")}
	arr := &Table{Name: "cfa", Ordering: config.OrderArrival, TTL: time.Minute}
	mixed, stale := Key(tbl.Name, "mixed"), Key(tbl.Name, "stale")
	submit(t, w,
		upd(t, tbl, mixed, 15, nil, 0, "a", "old", "b", "old"),
		upd(t, tbl, stale, 100, nil, 0, "a", "newest"),
	)
	flush(t, w)
	before := w.Stats()
	mu.Lock()
	infos = nil
	mu.Unlock()

	var a acks
	us := []Update{
		upd(t, tbl, mixed, 10, &a, 1, "a", "ten", "b", "ten"), // b@10 is older than the stored 15
		upd(t, tbl, mixed, 20, &a, 2, "a", "twenty"),
		upd(t, tbl, stale, 50, &a, 3, "a", "stale"),
		upd(t, arr, Key(arr.Name, "1"), 1, &a, 4, "a", "arrival"),
	}
	const n = 100
	for i := range n {
		us = append(us, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), int64(i), &a, int64(10+i), "a", int64(i)))
	}
	submit(t, w, us...)
	flush(t, w)

	st := w.Stats()
	writes, cmds := int64(n+3), int64(n+2+2) // a script call per event-time key; HSET and PEXPIRE
	if d := st.Writes - before.Writes; d != writes {
		t.Errorf("writes = %d, want %d", d, writes)
	}
	if d := st.Commands - before.Commands; d != cmds {
		t.Errorf("commands = %d, want %d", d, cmds)
	}
	if d := st.Stale - before.Stale; d != 1 {
		t.Errorf("stale = %d, want 1", d)
	}
	if d := st.Coalesced - before.Coalesced; d != 1 {
		t.Errorf("coalesced = %d, want 1", d)
	}
	if a.count() != len(us) {
		t.Errorf("acks = %d, want %d", a.count(), len(us))
	}
	mu.Lock()
	got := slices.Clone(infos)
	mu.Unlock()
	want := BatchInfo{Updates: len(us), Writes: int(writes), Commands: int(cmds)}
	if len(got) == 1 {
		got[0].RoundTrip = 0
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("OnBatch = %+v, want one batch %+v (any round trip)", got, want)
	}

	owners := e.rc.Owners()
	conns := e.nodeConns()
	for _, c := range []struct {
		key, field string
		want       any
	}{
		{mixed, "a", "twenty"}, {mixed, "b", "old"}, {stale, "a", "newest"},
		{Key(tbl.Name, "0"), "a", int64(0)}, {Key(tbl.Name, strconv.Itoa(n-1)), "a", int64(n - 1)},
		{Key(arr.Name, "1"), "a", "arrival"},
	} {
		if v, err := DecodeValue(e.hget(conns, &owners, c.key, c.field)); v != c.want {
			t.Errorf("%s %s = %v (%v), want %v", c.key, c.field, v, err, c.want)
		}
	}
	if got := string(e.hget(conns, &owners, mixed, tbl.HiddenTimeField)); got != "20" {
		t.Errorf("event time of %s = %q, want 20", mixed, got)
	}
	for _, k := range []string{mixed, Key(tbl.Name, "7"), Key(arr.Name, "1")} {
		c := conns[owners[redisc.Slot(k)]]
		if pttl, err := redis.Int64(c.Do("PTTL", k)); err != nil || pttl <= 0 {
			t.Errorf("PTTL %s = %d, %v: want the table's TTL", k, pttl, err)
		}
	}
}

// TestSingleWriterOnCluster checks that a plain writer pointed at a
// cluster node stops with a hint instead of retrying redirections.
func TestSingleWriterOnCluster(t *testing.T) {
	t.Parallel()
	rc := testenv.StartRedisCluster(t, 3)
	st := open(t, Options{Addr: rc.Addrs()[0]})
	w := st.NewWriter(WriterOptions{Logger: slog.New(slog.DiscardHandler)})
	defer w.Close()
	tbl := &Table{Name: "single"}
	for i := range 100 {
		submit(t, w, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), 1, nil, 0, "f", true))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := w.Flush(ctx)
	// A script call with keys of many slots is refused (CROSSSLOT) before
	// it would be redirected (MOVED); a batch of one key is redirected.
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") && !strings.Contains(err.Error(), "MOVED") ||
		!strings.Contains(err.Error(), "cluster: true") {
		t.Fatalf("Flush = %v, want a CROSSSLOT or MOVED error with a hint", err)
	}
	owners := rc.Owners()
	var elsewhere []string
	for i := 0; len(elsewhere) < 5; i++ {
		if k := strconv.Itoa(i); owners[redisc.Slot(Key(tbl.Name, k))] != rc.Addrs()[0] {
			elsewhere = append(elsewhere, k)
		}
	}
	_, err = st.NewReader().Get(ctx, tbl.Name, elsewhere, []string{"f"})
	if err == nil || !strings.Contains(err.Error(), "redis+cluster://") {
		t.Errorf("Get = %v, want a MOVED error with a hint", err)
	}
}

func TestOpenClusterErrors(t *testing.T) {
	if _, err := Open(Options{Addr: "h:1", Cluster: true, DB: 2}); err == nil {
		t.Error("Open of a cluster with DB 2: no error")
	}
	if _, err := Open(Options{Addr: " , ", Cluster: true}); err == nil {
		t.Error("Open of a cluster without nodes: no error")
	}
	st := open(t, Options{Addr: "127.0.0.1:1", Cluster: true, DialTimeout: time.Second})
	if err := st.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "slot map") {
		t.Errorf("Ping of nothing = %v", err)
	}
}
