package sink

import (
	"bytes"
	"context"
	"errors"
	"github.com/feathrgo/feathr/config"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// env is a private Redis and a Store of it; checks read the server directly (do).
type env struct {
	t     testing.TB
	srv   *testenv.RedisServer
	store *Store
}

func newEnv(t testing.TB, args ...string) *env {
	srv := testenv.StartRedis(t, args...)
	return &env{t: t, srv: srv, store: open(t, Options{Addr: srv.Addr(), ReadTimeout: 2 * time.Second})}
}

// open opens the store of o, closed at the end of the test.
func open(t testing.TB, o Options) *Store {
	t.Helper()
	st, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// do runs one command on a fresh connection.
func (e *env) do(cmd string, args ...any) any {
	e.t.Helper()
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(cmd, args...)
	if err != nil {
		e.t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return r
}

// value reads and decodes one field; nil when missing.
func (e *env) value(key, field string) any {
	e.t.Helper()
	r := e.do("HGET", key, field)
	if r == nil {
		return nil
	}
	v, err := DecodeValue(r.([]byte))
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// calls returns the number of calls of a command from INFO commandstats.
func (e *env) calls(cmd string) int {
	e.t.Helper()
	info, _ := redis.String(e.do("INFO", "commandstats"), nil)
	return commandCalls(info, cmd)
}

// commandCalls returns the number of calls of cmd in the reply of INFO
// commandstats.
func commandCalls(info, cmd string) int {
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// acks records acknowledged sequence numbers.
type acks struct {
	mu   sync.Mutex
	seqs []int64
	hook func(seq int64)
}

func (a *acks) Ack(seq int64) {
	if a.hook != nil {
		a.hook(seq)
	}
	a.mu.Lock()
	a.seqs = append(a.seqs, seq)
	a.mu.Unlock()
}

func (a *acks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seqs)
}

func val(t testing.TB, v any) []byte {
	b, err := AppendValue(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func upd(t testing.TB, tbl *Table, key string, et int64, a Acker, seq int64, kv ...any) Update {
	u := Update{Table: tbl, Key: key, EventTime: et, Acker: a, Seq: seq}
	for i := 0; i < len(kv); i += 2 {
		u.Fields = append(u.Fields, Field{kv[i].(string), val(t, kv[i+1])})
	}
	return u
}

func submit(t testing.TB, w *Writer, us ...Update) {
	t.Helper()
	for _, u := range us {
		if err := w.Submit(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

func flush(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func newWriter(t testing.TB, e *env, o WriterOptions) *Writer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := e.store.NewWriter(o)
	t.Cleanup(func() { w.Close() })
	return w
}

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

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriterRedisDown(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	w := newWriter(t, e, WriterOptions{
		BatchSize: 20, Conns: 2, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	tbl := &Table{Name: "down", HiddenTimeField: HiddenTimeField("m")}
	var a acks
	for i := range 100 {
		submit(t, w, upd(t, tbl, Key("down", strconv.Itoa(i)), 1, &a, int64(i), "f", int64(i)))
	}
	flush(t, w)

	e.srv.Stop()
	for i := 100; i < 200; i++ {
		submit(t, w, upd(t, tbl, Key("down", strconv.Itoa(i)), 1, &a, int64(i), "f", int64(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := w.Flush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while Redis is down = %v, want deadline exceeded", err)
	}
	if n := a.count(); n != 100 {
		t.Fatalf("acks while Redis is down: %d, want 100", n)
	}
	if st := w.Stats(); st.Retries == 0 || st.Errors == 0 {
		t.Errorf("stats while down %+v: want retries and errors", st)
	}

	e.srv.Start()
	flush(t, w)
	if n := a.count(); n != 200 {
		t.Fatalf("acks after restart: %d, want 200", n)
	}
	for i := 100; i < 200; i++ {
		if got := e.value(Key("down", strconv.Itoa(i)), "f"); got != int64(i) {
			t.Fatalf("key %d after restart = %v", i, got)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "redis write failed"); n != 1 {
		t.Errorf("%d 'failed' log lines, want 1 (rate-limited):\n%s", n, out)
	}
	if !strings.Contains(out, "redis writes recovered") {
		t.Errorf("no recovery log line:\n%s", out)
	}
}

// TestWriterOrderAcrossFailures kills the writer's connections while
// batches of the same keys are in flight: batches sent after a failed one
// are written again after it, so the last update of each key wins in
// Arrival order, and every update is acknowledged.
func TestWriterOrderAcrossFailures(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 7, Conns: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	tbl := &Table{Name: "of", Ordering: config.OrderArrival}
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		n := 0
		defer func() { killed <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			k, err := redis.Int(c.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
			if err != nil {
				t.Errorf("CLIENT KILL: %v", err)
				return
			}
			n += k
		}
	}()
	var a acks
	const keys, updates = 10, 20000
	for i := range updates {
		submit(t, w, upd(t, tbl, Key("of", strconv.Itoa(i%keys)), int64(i), &a, int64(i), "f", int64(i)))
	}
	flush(t, w)
	close(stop)
	if n := <-killed; n == 0 {
		t.Log("no connection was killed while writing")
	} else {
		t.Logf("killed %d connections; stats %+v", n, w.Stats())
	}
	if a.count() != updates {
		t.Errorf("acks = %d, want %d", a.count(), updates)
	}
	for k := range keys {
		if got, want := e.value(Key("of", strconv.Itoa(k)), "f"), int64(updates-keys+k); got != want {
			t.Errorf("key %d = %v, want the last update %d", k, got, want)
		}
	}
}

func TestWriterBackpressure(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{BatchSize: 2, QueueSize: 2, Conns: 1, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	e.srv.Stop()
	tbl := &Table{Name: "bp"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Submit(ctx, upd(t, tbl, "bp:1", 1, nil, 0, "f", true))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit with a full queue = %v, want deadline exceeded", err)
	}
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close while Redis is down took %v", d)
	}
	if err := w.Submit(context.Background(), upd(t, tbl, "bp:1", 1, nil, 0, "f", true)); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestWriterNoScript(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{})
	tbl := &Table{Name: "ns", HiddenTimeField: HiddenTimeField("m")}
	submit(t, w, upd(t, tbl, "ns:1", 1, nil, 0, "f", "one"))
	flush(t, w)
	e.do("SCRIPT", "FLUSH")
	submit(t, w, upd(t, tbl, "ns:1", 2, nil, 0, "f", "two"))
	flush(t, w)
	if got := e.value("ns:1", "f"); got != "two" {
		t.Errorf("after SCRIPT FLUSH: %v, want two", got)
	}
	if st := w.Stats(); st.Errors != 1 || w.Err() != nil {
		t.Errorf("stats %+v, err %v: want one NOSCRIPT error, healed", st, w.Err())
	}
}

func TestWriterFatal(t *testing.T) {
	t.Run("WRONGTYPE", func(t *testing.T) {
		e := newEnv(t)
		e.do("SET", "wt:1", "a string")
		w := newWriter(t, e, WriterOptions{})
		var a acks
		submit(t, w, upd(t, &Table{Name: "wt", HiddenTimeField: HiddenTimeField("m")}, "wt:1", 1, &a, 1, "f", true))
		err := w.Flush(context.Background())
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || !strings.Contains(err.Error(), "wt:1") {
			t.Fatalf("Flush = %v, want WRONGTYPE naming the key", err)
		}
		select {
		case <-w.Failed():
		default:
			t.Error("Failed not closed")
		}
		if err := w.Submit(context.Background(), Update{Table: &Table{}}); err == nil || w.Err() == nil {
			t.Errorf("Submit after failure = %v, Err = %v", err, w.Err())
		}
		if a.count() != 0 {
			t.Error("failed update acked")
		}
		if err := w.Close(); err == nil {
			t.Error("Close returned nil after a fatal error")
		}
	})
	for _, c := range []struct{ name, password, want string }{
		{"NOAUTH", "", "NOAUTH"},
		{"WRONGPASS", "wrong-secret", "WRONGPASS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := testenv.StartRedis(t, "--requirepass", "right-secret")
			st := open(t, Options{Addr: srv.Addr(), Password: c.password})
			w := st.NewWriter(WriterOptions{Logger: slog.New(slog.DiscardHandler)})
			defer w.Close()
			submit(t, w, upd(t, &Table{Name: "p"}, "p:1", 1, nil, 0, "f", true))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := w.Flush(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Flush = %v, want %s", err, c.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	t.Run("right password", func(t *testing.T) {
		srv := testenv.StartRedis(t, "--requirepass", "right-secret")
		st := open(t, Options{Addr: srv.Addr(), Password: "right-secret", DB: 3})
		w := st.NewWriter(WriterOptions{Logger: slog.New(slog.DiscardHandler)})
		defer w.Close()
		submit(t, w, upd(t, &Table{Name: "p"}, "p:1", 1, nil, 0, "f", true))
		flush(t, w)
		got, err := st.NewReader().Get(context.Background(), "p", []string{"1"}, []string{"f"})
		if err != nil || got[0][0] != true {
			t.Errorf("read back = %v, %v", got, err)
		}
	})
}

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

// writeAgain writes 2 into field f of key after cause made the writer's
// connection fail, and checks that it was written after an error.
func writeAgain(t *testing.T, e *env, w *Writer, tbl *Table, key, cause string) {
	t.Helper()
	submit(t, w, upd(t, tbl, key, 2, nil, 0, "f", int64(2)))
	flush(t, w)
	if got := e.value(key, "f"); got != int64(2) {
		t.Errorf("%s = %v, want 2", key, got)
	}
	if st := w.Stats(); st.Errors == 0 {
		t.Fatalf("stats %+v: %s caused no error", st, cause)
	}
}

// conn returns a connection to the server, closed at the end of the test.
func (e *env) conn() redis.Conn {
	e.t.Helper()
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// TestWriterKillsDroppedConn checks that after a read error the writer
// ends the dropped connection (CLIENT KILL ID) before it writes the
// batches again on a new one: Redis could otherwise still run commands of
// the old connection after them, an older arrival value over a newer one.
func TestWriterKillsDroppedConn(t *testing.T) {
	e := newEnv(t)
	st := open(t, Options{Addr: e.srv.Addr(), ReadTimeout: 200 * time.Millisecond})
	w := st.NewWriter(WriterOptions{Conns: 1, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { w.Close() })
	tbl := &Table{Name: "kd", Ordering: config.OrderArrival}
	submit(t, w, upd(t, tbl, "kd:1", 1, nil, 0, "f", int64(1)))
	flush(t, w)
	// Every command waits 1s: the write's reply times out.
	e.do("CLIENT", "PAUSE", 1000, "ALL")
	writeAgain(t, e, w, tbl, "kd:1", "the pause")
	if n := e.calls("client|kill"); n == 0 {
		t.Error("the dropped connection was not killed (no CLIENT KILL)")
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

// TestWriterScriptError: a Lua error in the event-time script (here, an
// older-times field that is not JSON) stops the writer with an error that
// names the key, instead of retrying it forever; nothing of its batch is
// acked.
func TestWriterScriptError(t *testing.T) {
	e := newEnv(t)
	tbl := &Table{Name: "se", HiddenTimeField: HiddenTimeField("m"), Features: []string{"f", "g"}}
	bad := Key(tbl.Name, "bad")
	e.do("HSET", bad, "f", val(t, "x"), tbl.timeField(), "15", tbl.olderField(), "not json")
	w := newWriter(t, e, WriterOptions{Conns: 1, FlushInterval: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	var a acks
	submit(t, w,
		upd(t, tbl, Key(tbl.Name, "ok"), 10, &a, 1, "f", "fine"),
		upd(t, tbl, bad, 10, &a, 2, "g", "late"), // older than 15: the older times are read
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.Flush(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want the writer stopped", err)
	}
	for _, want := range []string{`key "se:bad"`, "script", "Expected value"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	select {
	case <-w.Failed():
	default:
		t.Error("Failed not closed")
	}
	if st := w.Stats(); st.Errors != 1 || st.Retries != 0 || a.count() != 0 {
		t.Errorf("stats %+v, %d acks: want one error, no retry, no ack", st, a.count())
	}
}

// TestWriterKillsOnlyItsInstance: after a restart of Redis, the IDs of
// the connections dropped before it may be another client's (IDs start
// again): the writer must not end them on the new instance.
func TestWriterKillsOnlyItsInstance(t *testing.T) {
	e := newEnv(t)
	st := open(t, Options{Addr: e.srv.Addr(), ReadTimeout: 2 * time.Second})
	dial := func() redis.Conn {
		t.Helper()
		c, err := redis.Dial("tcp", e.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Some connections first, so that the writer's ID is not the first
	// that the restarted server hands out.
	for range 10 {
		dial().Close()
	}
	// clients returns the IDs of the server's other client connections.
	clients := func() []int64 {
		t.Helper()
		list, _ := redis.String(e.do("CLIENT", "LIST"), nil)
		var ids []int64
		for line := range strings.Lines(list) {
			if strings.Contains(line, "cmd=client|list") {
				continue // the connection that asks
			}
			f, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			if id, err := strconv.ParseInt(f, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
		return ids
	}
	w := st.NewWriter(WriterOptions{Conns: 1, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { w.Close() })
	tbl := &Table{Name: "ki", Ordering: config.OrderArrival}
	submit(t, w, upd(t, tbl, "ki:1", 1, nil, 0, "f", int64(1)))
	flush(t, w)
	ids := clients()
	if len(ids) != 1 {
		t.Fatalf("client connections %v: want the writer's only", ids)
	}
	old := ids[0]

	e.srv.Stop()
	e.srv.Start()
	var other redis.Conn
	for other == nil {
		c := dial()
		id, err := redis.Int64(c.Do("CLIENT", "ID"))
		switch {
		case err != nil:
			t.Fatal(err)
		case id == old:
			other = c
		case id > old:
			t.Fatalf("the restarted server is at ID %d already, past %d", id, old)
		default:
			c.Close()
		}
	}
	defer other.Close()

	// The writer's connection is gone: it drops it and writes on a new one.
	writeAgain(t, e, w, tbl, "ki:1", "the restart")
	if _, err := other.Do("PING"); err != nil {
		t.Errorf("the other client with the dropped connection's ID %d was ended: %v", old, err)
	}
}

// revocable is an Acker whose owner can give its updates up (a Revoker).
type revocable struct {
	acks
	revoked atomic.Bool
}

func (r *revocable) Revoked() bool { return r.revoked.Load() }

// TestWriterRevoked: the updates of an owner that gave them up while
// Redis was down are not written when it is back, nor acked, whether they
// were in a batch that failed or still queued behind it; the others are
// written.
func TestWriterRevoked(t *testing.T) {
	for _, c := range []struct {
		name   string
		queued bool // the revoked updates come after the failed batch
	}{
		{"in a failed batch", false},
		{"queued", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			w := newWriter(t, e, WriterOptions{BatchSize: 100, Conns: 1, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
			tbl := &Table{Name: "rv", Ordering: config.OrderArrival}
			var gone revocable
			var kept acks
			e.srv.Stop()
			failing := func() {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); w.Stats().Errors == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("no failed attempt while Redis is down")
					}
				}
			}
			if c.queued {
				submit(t, w, upd(t, tbl, "rv:first", 1, &kept, 0, "f", int64(0)))
				failing()
			}
			const n = 20
			for i := range n {
				submit(t, w,
					upd(t, tbl, Key(tbl.Name, "gone", strconv.Itoa(i)), 1, &gone, int64(i), "f", int64(i)),
					upd(t, tbl, Key(tbl.Name, "kept", strconv.Itoa(i)), 1, &kept, int64(i), "f", int64(i)))
			}
			if !c.queued {
				failing()
			}
			gone.revoked.Store(true)
			e.srv.Start()
			flush(t, w)
			wantKept := n
			if c.queued {
				wantKept++
			}
			if gone.count() != 0 || kept.count() != wantKept {
				t.Errorf("acks: %d revoked, %d kept; want 0 and %d", gone.count(), kept.count(), wantKept)
			}
			for i := range n {
				if got := e.value(Key(tbl.Name, "gone", strconv.Itoa(i)), "f"); got != nil {
					t.Errorf("revoked update %d written: %v", i, got)
				}
				if got := e.value(Key(tbl.Name, "kept", strconv.Itoa(i)), "f"); got != int64(i) {
					t.Errorf("update %d = %v, want %d", i, got, i)
				}
			}
			if st := w.Stats(); st.Dropped != n || st.Updates != int64(wantKept) || st.QueuedBytes != 0 {
				t.Errorf("stats %+v: want %d dropped, %d updates, no bytes held", st, n, wantKept)
			}
		})
	}
}

// TestWriterQueueBytes: with Redis stopped, Submit blocks once the
// updates held reach MaxQueueBytes, whatever room the queue has by count,
// and goes on when Redis is back; the bytes held return to 0 once all is
// acked; an update larger than the bound is written alone; Close ends a
// Submit that waits for room.
func TestWriterQueueBytes(t *testing.T) {
	e := newEnv(t)
	const bound = 2000
	tbl := &Table{Name: "qb", Ordering: config.OrderArrival}
	big := strings.Repeat("x", 400)
	update := func(i int, a Acker) Update {
		return upd(t, tbl, Key(tbl.Name, strconv.Itoa(i)), 1, a, int64(i), "f", big)
	}
	u0 := update(0, nil)
	size := u0.size()
	opts := WriterOptions{BatchSize: 10, QueueSize: 1000, Conns: 1, MaxQueueBytes: bound,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	fill := func(w *Writer, a Acker) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		for i := 0; ; i++ {
			err := w.Submit(ctx, update(i, a))
			if err == nil {
				continue
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Submit %d = %v, want it to block until the deadline", i, err)
			}
			return i
		}
	}

	t.Run("blocks while Redis is down", func(t *testing.T) {
		w := newWriter(t, e, opts)
		e.srv.Stop()
		var a acks
		n := fill(w, &a)
		if want := int(bound / size); n != want {
			t.Errorf("%d updates of %d bytes taken under a bound of %d, want %d", n, size, bound, want)
		}
		if got := w.Stats().QueuedBytes; got != int64(n)*size {
			t.Errorf("QueuedBytes = %d, want %d", got, int64(n)*size)
		}
		done := make(chan error, 1)
		go func() { done <- w.Submit(context.Background(), update(n, &a)) }()
		select {
		case err := <-done:
			t.Fatalf("Submit with the bound reached returned %v while Redis is down", err)
		case <-time.After(200 * time.Millisecond):
		}
		e.srv.Start()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Submit still blocked after Redis came back")
		}
		flush(t, w)
		if a.count() != n+1 {
			t.Errorf("acks = %d, want %d", a.count(), n+1)
		}
		if got := w.Stats().QueuedBytes; got != 0 {
			t.Errorf("QueuedBytes after everything was acked = %d, want 0", got)
		}
		if got := e.value(Key(tbl.Name, strconv.Itoa(n)), "f"); got != big {
			t.Errorf("last update not written: %v", got)
		}
	})
	t.Run("an update larger than the bound", func(t *testing.T) {
		w := newWriter(t, e, opts)
		huge := upd(t, tbl, Key(tbl.Name, "huge"), 1, nil, 0, "f", strings.Repeat("y", 3*bound))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Submit(ctx, huge); err != nil {
			t.Fatalf("Submit of an update larger than the bound = %v", err)
		}
		flush(t, w)
		if got, _ := e.value(Key(tbl.Name, "huge"), "f").(string); len(got) != 3*bound {
			t.Errorf("huge value of %d bytes, want %d", len(got), 3*bound)
		}
	})
	t.Run("Close ends a waiting Submit", func(t *testing.T) {
		w := e.store.NewWriter(WriterOptions{BatchSize: 10, QueueSize: 1000, Conns: 1, MaxQueueBytes: bound,
			MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		e.srv.Stop()
		defer e.srv.Start()
		n := fill(w, nil)
		done := make(chan error, 1)
		go func() { done <- w.Submit(context.Background(), update(n, nil)) }()
		time.Sleep(50 * time.Millisecond)
		w.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Submit waiting for room, after Close = %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end a Submit waiting for room")
		}
	})
}
