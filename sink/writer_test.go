package sink

import (
	"github.com/feathrgo/feathr/config"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestWriterBatching(t *testing.T) {
	e := newEnv(t)
	for _, ord := range []config.Ordering{config.OrderEvent, config.OrderArrival} {
		t.Run(ord.String(), func(t *testing.T) {
			cmd := map[config.Ordering]string{config.OrderEvent: "evalsha", config.OrderArrival: "hset"}[ord]
			before := e.calls(cmd)
			w := newWriter(t, e, WriterOptions{BatchSize: 100, FlushInterval: time.Hour, Conns: 1})
			tbl := &Table{Name: "b" + ord.String(), Ordering: ord, HiddenTimeField: HiddenTimeField("m")}
			var a acks
			for i := range 300 {
				submit(t, w, upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), 1, &a, int64(i), "f", int64(i)))
			}
			flush(t, w)
			st := w.Stats()
			// EventTime: the script writes up to scriptKeys keys per call.
			cmds := map[config.Ordering]int64{config.OrderEvent: 3 * ((100 + scriptKeys - 1) / scriptKeys), config.OrderArrival: 300}[ord]
			if st.Batches != 3 || st.Commands != cmds || st.Writes != 300 || st.Updates != 300 || a.count() != 300 {
				t.Errorf("stats %+v, acks %d; want 3 batches, %d commands, 300 writes and updates", st, a.count(), cmds)
			}
			if n := e.calls(cmd) - before; int64(n) != cmds {
				t.Errorf("%s calls = %d, want %d", cmd, n, cmds)
			}
			if got := e.value(Key(tbl.Name, "299"), "f"); got != int64(299) {
				t.Errorf("value = %v", got)
			}
		})
	}
}

func TestWriterConcurrentConns(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 50, Conns: 4})
	tbl := &Table{Name: "cc"}
	var a acks
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := Key("cc", strconv.Itoa(i%100))
				submit(t, w, upd(t, tbl, k, int64(i), &a, int64(g*1000+i), "f"+strconv.Itoa(g), int64(i)))
			}
		})
	}
	wg.Wait()
	flush(t, w)
	if a.count() != 4000 {
		t.Fatalf("acks = %d, want 4000", a.count())
	}
	for g := range 8 {
		if got := e.value(Key("cc", "99"), "f"+strconv.Itoa(g)); got != int64(499) {
			t.Errorf("f%d = %v, want 499", g, got)
		}
	}
}

func TestWriterCoalesce(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{FlushInterval: time.Hour, Conns: 1})
	var a acks
	et := &Table{Name: "ce", HiddenTimeField: HiddenTimeField("m")}
	k := Key("ce", "1")
	submit(t, w,
		upd(t, et, k, 10, &a, 1, "a", int64(1), "b", int64(1)),
		upd(t, et, k, 20, &a, 2, "a", int64(2)),
		upd(t, et, k, 15, &a, 3, "c", int64(3)), // older than seq 2, but c has no newer time: kept
		upd(t, et, k, 15, &a, 7, "a", int64(7)), // older than seq 2's a: stale
		upd(t, et, k, 20, &a, 4, "b", int64(4)), // equal time: wins by order
	)
	ar := &Table{Name: "ca", Ordering: config.OrderArrival}
	k2 := Key("ca", "1")
	submit(t, w,
		upd(t, ar, k2, 30, &a, 5, "a", int64(1)),
		upd(t, ar, k2, 10, &a, 6, "a", int64(2), "b", int64(2)),
	)
	flush(t, w)
	st := w.Stats()
	if st.Commands != 2 || st.Writes != 2 || st.Coalesced != 4 || st.Stale != 1 || a.count() != 7 {
		t.Errorf("stats %+v, acks %d; want 2 commands, 2 writes, 4 coalesced, 1 stale, 7 acks", st, a.count())
	}
	for _, c := range []struct {
		key, field string
		want       any
	}{
		{k, "a", int64(2)}, {k, "b", int64(4)}, {k, "c", int64(3)},
		{k2, "a", int64(2)}, {k2, "b", int64(2)},
	} {
		if got := e.value(c.key, c.field); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.key, c.field, got, c.want)
		}
	}
	if got, _ := redis.String(e.do("HGET", k, HiddenTimeField("m")), nil); got != "20" {
		t.Errorf("hidden time field = %q, want 20", got)
	}
	if n, _ := redis.Int(e.do("HLEN", k2), nil); n != 2 {
		t.Errorf("arrival hash has %d fields, want 2 (no hidden field)", n)
	}
}

func TestWriterEventTimeOrdering(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{Conns: 2})
	et := &Table{Name: "o", HiddenTimeField: HiddenTimeField("m")}
	ar := &Table{Name: "oa", Ordering: config.OrderArrival}
	k, ka := Key("o", "1"), Key("oa", "1")
	step := func(tbl *Table, key string, t0 int64, v string, want string) {
		t.Helper()
		submit(t, w, upd(t, tbl, key, t0, nil, 0, "f", v))
		flush(t, w)
		if got := e.value(key, "f"); got != want {
			t.Errorf("%s after write of %q at %d: %v, want %q", key, v, t0, got, want)
		}
	}
	step(et, k, 2000, "new", "new")
	step(et, k, 1000, "old", "new")     // older event: rejected
	step(et, k, 2000, "equal", "equal") // equal time: written
	step(et, k, 3000, "newer", "newer")
	if st := w.Stats(); st.Stale != 1 {
		t.Errorf("stale = %d, want 1", st.Stale)
	}
	step(ar, ka, 2000, "new", "new")
	step(ar, ka, 1000, "old", "old") // arrival: last write wins

	// Each field is checked against its own time: a late update adds a
	// field that the key never had, and leaves the newer one as it is.
	submit(t, w, upd(t, et, k, 100, nil, 0, "g", "late", "f", "late"))
	flush(t, w)
	if got := e.value(k, "g"); got != "late" {
		t.Errorf("late update's new field g = %v, want late", got)
	}
	if got := e.value(k, "f"); got != "newer" {
		t.Errorf("late update overwrote f: %v, want newer", got)
	}
	// Two materializations keep separate times.
	other := &Table{Name: "o", HiddenTimeField: HiddenTimeField("other")}
	step(other, k, 500, "other", "other")
}

// TestWriterScriptKeys writes more keys than one script call takes, with
// a stale key among them and a coalesced write whose fields come from
// events of different times, each judged against the stored time.
func TestWriterScriptKeys(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{FlushInterval: time.Hour, Conns: 1})
	tbl := &Table{Name: "sk", TTL: time.Minute, HiddenTimeField: HiddenTimeField("m")}
	mixed, stale := Key("sk", "mixed"), Key("sk", "stale")
	submit(t, w,
		upd(t, tbl, mixed, 15, nil, 0, "a", "old", "b", "old"),
		upd(t, tbl, stale, 100, nil, 0, "a", "newest"),
	)
	flush(t, w)
	before := w.Stats()
	var a acks
	var us []Update
	for i := range 2*scriptKeys + 5 {
		us = append(us, upd(t, tbl, Key("sk", strconv.Itoa(i)), int64(i), &a, int64(i), "a", int64(i)))
		if i == scriptKeys-2 {
			us = append(us,
				upd(t, tbl, mixed, 10, &a, 1000, "a", "ten", "b", "ten"), // b@10 is older than the stored 15
				upd(t, tbl, mixed, 20, &a, 1001, "a", "twenty"),
				upd(t, tbl, stale, 50, &a, 1002, "a", "stale"),
			)
		}
	}
	submit(t, w, us...)
	flush(t, w)
	st := w.Stats()
	if n := st.Writes - before.Writes; n != 2*scriptKeys+5+2 {
		t.Errorf("writes = %d, want %d", n, 2*scriptKeys+5+2)
	}
	if n := st.Stale - before.Stale; n != 1 {
		t.Errorf("stale = %d, want 1", n)
	}
	if a.count() != len(us) {
		t.Errorf("acks = %d, want %d", a.count(), len(us))
	}
	for _, c := range []struct {
		key, field string
		want       any
	}{
		{mixed, "a", "twenty"}, {mixed, "b", "old"}, {stale, "a", "newest"},
		{Key("sk", "0"), "a", int64(0)}, {Key("sk", strconv.Itoa(2*scriptKeys+4)), "a", int64(2*scriptKeys + 4)},
	} {
		if got := e.value(c.key, c.field); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.key, c.field, got, c.want)
		}
	}
	if got, _ := redis.String(e.do("HGET", mixed, HiddenTimeField("m")), nil); got != "20" {
		t.Errorf("event time of %s = %q, want 20", mixed, got)
	}
	for _, k := range []string{mixed, Key("sk", "40")} {
		if pttl, _ := redis.Int64(e.do("PTTL", k), nil); pttl <= 0 {
			t.Errorf("PTTL %s = %d, want the table's TTL", k, pttl)
		}
	}
}

func TestWriterTTL(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{})
	for _, ord := range []config.Ordering{config.OrderEvent, config.OrderArrival} {
		tbl := &Table{Name: "ttl" + ord.String(), TTL: 10 * time.Second, Ordering: ord, HiddenTimeField: HiddenTimeField("m")}
		k := Key(tbl.Name, "1")
		submit(t, w, upd(t, tbl, k, 1, nil, 0, "f", int64(1)))
		flush(t, w)
		if pttl, _ := redis.Int64(e.do("PTTL", k), nil); pttl <= 9000 || pttl > 10000 {
			t.Errorf("%s: PTTL after write = %d, want ~10000", ord, pttl)
		}
		e.do("PEXPIRE", k, 3000)
		submit(t, w, upd(t, tbl, k, 2, nil, 0, "f", int64(2)))
		flush(t, w)
		if pttl, _ := redis.Int64(e.do("PTTL", k), nil); pttl <= 9000 {
			t.Errorf("%s: PTTL after second write = %d, want refreshed to ~10000", ord, pttl)
		}
		noTTL := &Table{Name: "nottl" + ord.String(), Ordering: ord}
		k = Key(noTTL.Name, "1")
		submit(t, w, upd(t, noTTL, k, 1, nil, 0, "f", int64(1)))
		flush(t, w)
		if pttl, _ := redis.Int64(e.do("PTTL", k), nil); pttl != -1 {
			t.Errorf("%s: PTTL without TTL = %d, want -1", ord, pttl)
		}
	}
}

func TestWriterFlushInterval(t *testing.T) {
	e := newEnv(t)
	const interval = 30 * time.Millisecond
	w := newWriter(t, e, WriterOptions{FlushInterval: interval})
	done := make(chan time.Time, 1)
	start := time.Now()
	submit(t, w, upd(t, &Table{Name: "fi"}, "fi:1", 1, AckFunc(func(int64) { done <- time.Now() }), 1, "f", true))
	select {
	case at := <-done:
		if d := at.Sub(start); d < interval || d > interval+time.Second {
			t.Errorf("lone update acked after %v, want about %v", d, interval)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lone update never acked")
	}
}

// TestWriterSendWhenIdle: with SendWhenIdle, an update submitted to an
// idle connection is written without waiting for its batch to fill or for
// the flush interval (an hour here), and a burst is written in full.
func TestWriterSendWhenIdle(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 1000, FlushInterval: time.Hour, Conns: 1, SendWhenIdle: true})
	tbl := &Table{Name: "wi", HiddenTimeField: HiddenTimeField("m")}
	done := make(chan int64, 1)
	submit(t, w, upd(t, tbl, "wi:lone", 1, AckFunc(func(seq int64) { done <- seq }), 7, "f", int64(1)))
	select {
	case seq := <-done:
		if seq != 7 {
			t.Fatalf("acked seq %d, want 7", seq)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a lone update on an idle connection was not written without Flush")
	}
	if got := e.value("wi:lone", "f"); got != int64(1) {
		t.Fatalf("value = %v, want 1", got)
	}
	var a acks
	for i := range 3000 {
		submit(t, w, upd(t, tbl, Key("wi", strconv.Itoa(i%500)), int64(i), &a, int64(i), "f", int64(i)))
	}
	flush(t, w)
	st := w.Stats()
	if a.count() != 3000 || st.Updates != 3001 {
		t.Fatalf("acks %d, stats %+v; want 3000 acks and 3001 updates", a.count(), st)
	}
	if got := e.value(Key("wi", "499"), "f"); got != int64(2999) {
		t.Errorf("value = %v, want 2999", got)
	}
}

func TestWriterAckAfterWrite(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 10})
	tbl := &Table{Name: "aw"}
	var missing atomic.Int64
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	a := &acks{hook: func(seq int64) {
		mu.Lock()
		defer mu.Unlock()
		n, err := redis.Int(c.Do("HEXISTS", Key("aw", strconv.FormatInt(seq, 10)), "f"))
		if err != nil || n != 1 {
			missing.Add(1)
		}
	}}
	for i := range 100 {
		submit(t, w, upd(t, tbl, Key("aw", strconv.Itoa(i)), 1, a, int64(i), "f", int32(i)))
	}
	flush(t, w)
	if a.count() != 100 || missing.Load() != 0 {
		t.Errorf("acks %d, acked before written %d", a.count(), missing.Load())
	}
}

// TestWriterMixedOrdering writes to an Arrival and an EventTime table
// through one connection, one update per batch: the first batch needs no
// script, the second does while the first is in flight. Loading the
// script then must not read a reply the receiver is waiting for (run it
// with -race).
func TestWriterMixedOrdering(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 1, Conns: 1})
	ar := &Table{Name: "ma", Ordering: config.OrderArrival}
	et := &Table{Name: "me", Ordering: config.OrderEvent, HiddenTimeField: HiddenTimeField("m")}
	var a acks
	const updates = 40
	for i := range updates {
		tbl := ar
		if i%2 == 1 {
			tbl = et
		}
		submit(t, w, upd(t, tbl, Key(tbl.Name, "1"), int64(i), &a, int64(i), "f", int64(i)))
	}
	flush(t, w)
	if a.count() != updates {
		t.Errorf("acks = %d, want %d", a.count(), updates)
	}
	if got := e.value(Key("ma", "1"), "f"); got != int64(updates-2) {
		t.Errorf("arrival key = %v, want %d", got, updates-2)
	}
	if got := e.value(Key("me", "1"), "f"); got != int64(updates-1) {
		t.Errorf("event-time key = %v, want %d", got, updates-1)
	}
	if st := w.Stats(); st.Errors != 0 || st.Retries != 0 {
		t.Errorf("stats %+v: want no error and no retry", st)
	}
}

// TestWriterWide writes keys of 10,000 fields, more than one command of
// the event-time script can pass on (Lua's unpack takes about 8,000
// values): the script sets them in chunks, on its usual path and on the
// one that judges each field by its own time.
func TestWriterWide(t *testing.T) {
	e := newEnv(t)
	const n = 10_000
	names := make([]string, n)
	for i := range names {
		names[i] = "w" + strconv.Itoa(i)
	}
	wide := func(tbl *Table, key string, et int64, a Acker, seq int64, v string) Update {
		u := Update{Table: tbl, Key: key, EventTime: et, Acker: a, Seq: seq}
		value := val(t, v)
		for _, name := range names {
			u.Fields = append(u.Fields, Field{name, value})
		}
		return u
	}
	for _, c := range []struct {
		name     string
		ordering config.Ordering
		features []string
		updates  func(tbl *Table, key string, a Acker) []Update
		first    int       // updates written in a batch before the others
		want     [3]string // the values of w0, w5000 and w9999
	}{
		{"event time, one time", config.OrderEvent, names, func(tbl *Table, key string, a Acker) []Update {
			return []Update{wide(tbl, key, 10, a, 1, "ten")}
		}, 0, [3]string{"ten", "ten", "ten"}},
		{"event time, per field", config.OrderEvent, nil, func(tbl *Table, key string, a Acker) []Update {
			// Coalesced: w0 from an older event than the rest, each field
			// judged against the stored times of the first write.
			return []Update{wide(tbl, key, 10, a, 1, "ten"), wide(tbl, key, 20, a, 2, "twenty"),
				upd(t, tbl, key, 5, a, 3, "w0", "five"), upd(t, tbl, key, 30, a, 4, "w9999", "thirty")}
		}, 1, [3]string{"twenty", "twenty", "thirty"}},
		{"arrival", config.OrderArrival, nil, func(tbl *Table, key string, a Acker) []Update {
			return []Update{wide(tbl, key, 10, a, 1, "ten")}
		}, 0, [3]string{"ten", "ten", "ten"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWriter(t, e, WriterOptions{Conns: 1, FlushInterval: time.Hour})
			tbl := &Table{Name: "wide" + strconv.Itoa(int(c.ordering)) + strconv.FormatBool(c.features == nil),
				Ordering: c.ordering, HiddenTimeField: HiddenTimeField("m"), Features: c.features}
			key := Key(tbl.Name, "1")
			var a acks
			us := c.updates(tbl, key, &a)
			submit(t, w, us[:c.first]...)
			flush(t, w)
			submit(t, w, us[c.first:]...)
			flush(t, w)
			if w.Err() != nil || a.count() != len(us) {
				t.Fatalf("err %v, %d acks of %d", w.Err(), a.count(), len(us))
			}
			fields := n
			if c.ordering == config.OrderEvent {
				fields++ // the event-time field
			}
			if got, _ := redis.Int(e.do("HLEN", key), nil); got < fields {
				t.Errorf("HLEN = %d, want %d or more", got, fields)
			}
			for i, f := range []string{"w0", "w5000", "w9999"} {
				if got := e.value(key, f); got != c.want[i] {
					t.Errorf("%s = %v, want %s", f, got, c.want[i])
				}
			}
		})
	}
}
