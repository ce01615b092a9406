package sink

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
)

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
