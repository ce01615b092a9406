package sink

import (
	"context"
	"errors"
	"fmt"
	"github.com/feathrgo/feathr/config"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestClusterAsk writes and reads keys of a slot while it is being
// migrated: keys already moved are answered with ASK by the old owner and
// must be written (after ASKING) on the new one, the event-time script
// running there; then the slot is assigned and the old owner says MOVED.
func TestClusterAsk(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{Conns: 1})
	ev := &Table{Name: "ask", HiddenTimeField: HiddenTimeField("m")}
	arr := &Table{Name: "ask", Ordering: config.OrderArrival, TTL: time.Hour}
	slot := redisc.Slot(Key(ev.Name, "x"))
	ks := keysInSlot(ev.Name, slot, 3) // [moved, stays, new]
	key := func(i int) string { return Key(ev.Name, ks[i]) }
	submit(t, w,
		upd(t, ev, key(0), 100, nil, 0, "f", "v100"),
		upd(t, ev, key(1), 100, nil, 0, "f", "v100"),
	)
	flush(t, w)

	from := e.rc.Owner(slot)
	var to string
	for _, a := range e.rc.Addrs() {
		if a != from {
			to = a
			break
		}
	}
	if got := e.rc.BeginMigration(slot, to); got != from {
		t.Fatalf("migration from %s, want %s", got, from)
	}
	e.rc.MigrateKey(from, to, key(0))

	var a acks
	submit(t, w,
		upd(t, ev, key(0), 200, &a, 1, "f", "v200"), // on to: ASK
		upd(t, ev, key(1), 200, &a, 2, "f", "v200"), // still on from
		upd(t, ev, key(2), 200, &a, 3, "f", "v200"), // new: ASK
	)
	flush(t, w)
	submit(t, w, upd(t, ev, key(0), 150, &a, 4, "f", "v150")) // older: stale on to
	submit(t, w, upd(t, arr, Key(arr.Name, ks[2]), 300, &a, 5, "g", "arrival"))
	flush(t, w)
	if a.count() != 5 {
		t.Fatalf("acks = %d, want 5", a.count())
	}
	if st := e.cl.stats(); st.Asked < 3 {
		t.Errorf("cluster stats %+v: want ASK redirections followed", st)
	}
	if st := w.Stats(); st.Stale != 1 {
		t.Errorf("writer stats %+v: want 1 stale update", st)
	}
	for _, c := range []struct {
		node string
		key  string
		want any
	}{
		{to, key(0), "v200"},
		{from, key(1), "v200"},
		{to, key(2), "v200"},
	} {
		conn, err := redis.Dial("tcp", c.node)
		if err != nil {
			t.Fatal(err)
		}
		conn.Send("ASKING")
		b, err := redis.Bytes(conn.Do("HGET", c.key, "f"))
		conn.Close()
		if err != nil {
			t.Fatalf("%s on %s: %v", c.key, c.node, err)
		}
		if v, _ := DecodeValue(b); v != c.want {
			t.Errorf("%s on %s: f = %v, want %v", c.key, c.node, v, c.want)
		}
	}

	// The arrival write's HSET and PEXPIRE both went to the importing node.
	conn, err := redis.Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	conn.Send("ASKING")
	ttl, err := redis.Int64(conn.Do("PTTL", key(2)))
	conn.Close()
	if err != nil || ttl <= 0 {
		t.Errorf("PTTL %s on %s = %d, %v: want the TTL set", key(2), to, ttl, err)
	}

	// Reading during the migration follows ASK too.
	rd := e.store.NewReader()
	got, err := rd.Get(context.Background(), ev.Name, ks, []string{"f", "g"})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([][]any{{"v200", nil}, {"v200", nil}, {"v200", "arrival"}})
	if fmt.Sprint(got) != want {
		t.Errorf("read during migration = %v, want %v", got, want)
	}

	e.rc.FinishMigration(slot, from, to)
	e.rc.WaitAgreed()
	movedBefore := e.cl.stats().Moved
	submit(t, w, upd(t, ev, key(1), 300, &a, 6, "f", "v300"))
	flush(t, w)
	if st := e.cl.stats(); st.Moved <= movedBefore {
		t.Errorf("cluster stats %+v: want a MOVED redirection followed", st)
	}
	got, err = rd.Get(context.Background(), ev.Name, ks[1:2], []string{"f"})
	if err != nil || fmt.Sprint(got) != "[[v300]]" {
		t.Errorf("read after migration = %v, %v", got, err)
	}
}

// TestClusterMigrationMidStream moves slots that hold written keys from
// one master to another, a few keys per MIGRATE, while updates with
// shuffled event times keep flowing: every update must be acked, and
// every key must end with its newest event's value.
func TestClusterMigrationMidStream(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{Conns: 3, BatchSize: 200})
	tbl := &Table{Name: "mig", HiddenTimeField: HiddenTimeField("m")}
	const nkeys = 3000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = Key(tbl.Name, strconv.Itoa(i))
	}
	newest := make([]int64, nkeys) // the newest event time submitted per key
	var submitted, acked atomic.Int64
	ack := AckFunc(func(int64) { acked.Add(1) })
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	send := func(i int) {
		et := rng.Int64N(1 << 40)
		newest[i] = max(newest[i], et)
		u := Update{Table: tbl, Key: keys[i], EventTime: et, Acker: ack,
			Fields: []Field{{"t", val(t, et)}, {"k", val(t, keys[i])}}}
		if err := w.Submit(ctx, u); err != nil {
			t.Error(err)
			return
		}
		submitted.Add(1)
	}
	for i := range keys {
		send(i)
	}
	flush(t, w)

	// The slots of the first 60 keys that a chosen master owns, moved
	// to the next master.
	owners := e.rc.Owners()
	addrs := e.rc.Addrs()
	from, to := addrs[0], addrs[1]
	var slots []int
	seen := make(map[int]bool)
	for _, k := range keys {
		s := redisc.Slot(k)
		if owners[s] == from && !seen[s] && len(slots) < 60 {
			seen[s] = true
			slots = append(slots, s)
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// Keep updating random keys until the slots moved, in bursts
		// that leave the servers time to migrate (bounded).
		for n := 0; n < 5000; n++ {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			for range 100 {
				send(rng.IntN(nkeys))
			}
		}
	})
	for _, s := range slots {
		e.rc.BeginMigration(s, to)
		for e.rc.MigrateKeys(s, from, to, 1) > 0 {
		}
		e.rc.FinishMigration(s, from, to)
	}
	close(done)
	wg.Wait()
	// And once more every key, after the moves.
	for i := range keys {
		send(i)
	}
	flush(t, w)
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	if acked.Load() != submitted.Load() {
		t.Fatalf("acked %d of %d updates", acked.Load(), submitted.Load())
	}
	st, cs := w.Stats(), e.cl.stats()
	t.Logf("%d updates, %d slots moved; writer %+v; cluster %+v", submitted.Load(), len(slots), st, cs)
	if cs.Moved == 0 {
		t.Errorf("no MOVED followed: the slots did not move under the writer")
	}

	e.rc.WaitAgreed()
	owners = e.rc.Owners()
	for _, s := range slots {
		if owners[s] != to {
			t.Fatalf("slot %d on %s, want %s", s, owners[s], to)
		}
	}
	conns := e.nodeConns()
	for i, k := range keys {
		v, err := DecodeValue(e.hget(conns, &owners, k, "t"))
		if err != nil || v != newest[i] {
			t.Fatalf("key %s: t = %v (%v), want the newest event %d", k, v, err, newest[i])
		}
		if tf := string(e.hget(conns, &owners, k, tbl.HiddenTimeField)); tf != strconv.FormatInt(newest[i], 10) {
			t.Fatalf("key %s: event time field %s, want %d", k, tf, newest[i])
		}
	}
	if n := len(e.rc.Keys()); n != nkeys {
		t.Errorf("%d keys in the cluster, want %d", n, nkeys)
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

// TestClusterNodeDown stops a master while updates for keys on every
// master arrive: none of its updates is acked while it is down, and
// everything is written once it is back.
func TestClusterNodeDown(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	w := e.writer(WriterOptions{Conns: 2, BatchSize: 50, MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	down := e.rc.Addrs()[0]
	owners := e.rc.Owners()
	tbl := &Table{Name: "down", HiddenTimeField: HiddenTimeField("m")}
	var a acks
	for i := range 100 {
		submit(t, w, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), 1, &a, int64(i), "f", int64(i)))
	}
	flush(t, w)

	e.rc.Node(0).Stop()
	for i := 100; i < 400; i++ {
		submit(t, w, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), 1, &a, int64(i), "f", int64(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := w.Flush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while a master is down = %v, want deadline exceeded", err)
	}
	// Nothing on the stopped master is acked, and a batch that holds one
	// of its keys is not acked at all.
	a.mu.Lock()
	acked := slices.Clone(a.seqs)
	a.mu.Unlock()
	for _, seq := range acked {
		if k := Key(tbl.Name, strconv.FormatInt(seq, 10)); seq >= 100 && owners[redisc.Slot(k)] == down {
			t.Fatalf("update %d acked while its master %s is down", seq, down)
		}
	}
	if len(acked) == 400 {
		t.Fatalf("every update acked while a master is down")
	}
	e.rc.Node(0).Start()
	flush(t, w)
	if n := a.count(); n != 400 {
		t.Fatalf("acks after the restart: %d, want 400", n)
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = strconv.Itoa(100 + i)
	}
	got, err := e.store.NewReader().Get(context.Background(), tbl.Name, keys, []string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range got {
		if row[0] != int64(100+i) {
			t.Fatalf("key %d after the restart = %v", 100+i, row[0])
		}
	}
}

// TestClusterAuth checks that the password reaches every node (the slot
// map's connections and the writers' and readers'), and that a wrong one
// stops the writer instead of being retried.
func TestClusterAuth(t *testing.T) {
	t.Parallel()
	rc := testenv.StartRedisCluster(t, 3)
	for _, a := range rc.Addrs() {
		rc.Do(a, "CONFIG", "SET", "requirepass", "cluster-secret")
	}
	quiet := WriterOptions{Logger: slog.New(slog.DiscardHandler)}
	tbl := &Table{Name: "auth"}
	keys := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}

	st := open(t, Options{Addr: rc.Addrs()[0], Cluster: true, Password: "cluster-secret"})
	w := st.NewWriter(quiet)
	for _, k := range keys {
		submit(t, w, upd(t, tbl, Key(tbl.Name, k), 1, nil, 0, "f", k))
	}
	flush(t, w)
	w.Close()
	got, err := st.NewReader().Get(context.Background(), tbl.Name, keys, []string{"f"})
	if err != nil || fmt.Sprint(got) != "[[1] [2] [3] [4] [5] [6] [7] [8] [9]]" {
		t.Errorf("read back = %v, %v", got, err)
	}

	bad := open(t, Options{Addr: rc.Addrs()[1], Cluster: true, Password: "wrong-secret"})
	if err := bad.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("Ping with a wrong password = %v", err)
	}
	w = bad.NewWriter(quiet)
	defer w.Close()
	submit(t, w, upd(t, tbl, Key(tbl.Name, "1"), 1, nil, 0, "f", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("Flush with a wrong password = %v, want the writer stopped", err)
	}
}

// TestClusterKillsDroppedConn: a connection to a master that the writer
// dropped after a read error is ended (CLIENT KILL ID) on that master
// before the writes are sent again, as with a single server, so that
// Redis cannot run its commands after them.
func TestClusterKillsDroppedConn(t *testing.T) {
	t.Parallel()
	e := newClusterEnv(t)
	st := open(t, Options{Addr: e.rc.Addrs()[0], Cluster: true, ReadTimeout: 200 * time.Millisecond})
	w := st.NewWriter(WriterOptions{Conns: 1, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { w.Close() })
	tbl := &Table{Name: "kd", Ordering: config.OrderArrival}
	const n = 30 // keys on every master
	write := func(v int64) {
		for i := range n {
			submit(t, w, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), v, nil, 0, "f", v))
		}
		flush(t, w)
	}
	write(1)
	paused := e.rc.Addrs()[1]
	kills := func() int {
		info, _ := redis.String(e.rc.Do(paused, "INFO", "commandstats"), nil)
		return commandCalls(info, "client|kill")
	}
	before := kills()
	// Every command waits 1s on one master: the write's reply times out.
	e.rc.Do(paused, "CLIENT", "PAUSE", 1000, "ALL")
	write(2)
	if st := w.Stats(); st.Errors == 0 {
		t.Fatalf("stats %+v: the pause caused no read error", st)
	}
	if kills() == before {
		t.Error("the dropped connection was not killed on its master (no CLIENT KILL)")
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	got, err := st.NewReader().Get(context.Background(), tbl.Name, keys, []string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range got {
		if row[0] != int64(2) {
			t.Errorf("key %d = %v, want 2", i, row[0])
		}
	}
}
