package sink

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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
