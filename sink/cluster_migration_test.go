package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/config"
)

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
