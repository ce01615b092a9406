package sink

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestKey(t *testing.T) {
	for _, c := range []struct {
		table string
		parts []string
		want  string
	}{
		{"t", []string{"1"}, "t:1"},
		{"t", []string{"a", "b", NullKeyPart}, "t:a#b#_null_"},
		{"t", nil, "t:"},
	} {
		if got := Key(c.table, c.parts...); got != c.want {
			t.Errorf("Key(%q, %q) = %q, want %q", c.table, c.parts, got, c.want)
		}
	}
}

func TestReaderGet(t *testing.T) {
	e := newEnv(t)
	const n = 1200
	for i := range n {
		args := []any{Key("r", strconv.Itoa(i)), "i", val(t, int64(i))}
		if i%2 == 0 {
			args = append(args, "v", val(t, []float32{float32(i), 1}))
		}
		e.do("HSET", args...)
	}
	before := e.calls("hmget")
	keys := make([]string, 0, n+1)
	for i := range n {
		keys = append(keys, strconv.Itoa(i))
	}
	keys = append(keys, "missing")
	got, err := e.store.NewReader().Get(context.Background(), "r", keys, []string{"v", "i", "nofield"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+1 {
		t.Fatalf("%d rows, want %d", len(got), n+1)
	}
	for i := range n {
		var v any
		if i%2 == 0 {
			v = []float32{float32(i), 1}
		}
		if want := []any{v, int64(i), nil}; !reflect.DeepEqual(got[i], want) {
			t.Fatalf("key %d = %#v, want %#v", i, got[i], want)
		}
	}
	if want := []any{nil, nil, nil}; !reflect.DeepEqual(got[n], want) {
		t.Errorf("missing key = %#v, want %#v", got[n], want)
	}
	if c := e.calls("hmget") - before; c != n+1 {
		t.Errorf("%d HMGET calls, want %d", c, n+1)
	}
	if rows, err := e.store.NewReader().Get(context.Background(), "r", nil, []string{"i"}); err != nil || len(rows) != 0 {
		t.Errorf("no keys: %v, %v", rows, err)
	}
}

func TestReaderBadValue(t *testing.T) {
	e := newEnv(t)
	e.do("HSET", "r:1", "f", "!!notbase64")
	if _, err := e.store.NewReader().Get(context.Background(), "r", []string{"1"}, []string{"f"}); err == nil {
		t.Error("corrupt value: no error")
	}
}

// TestReaderGetParallel reads a key set large enough to be split over all
// readConns connections, in parts of unequal size, and checks that every
// row is its own key's.
func TestReaderGetParallel(t *testing.T) {
	e := newEnv(t)
	const n = 5*readChunk + 250
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys := make([]string, n)
	for i := range n {
		keys[i] = "k" + strconv.Itoa(i)
		if err := c.Send("HSET", Key("p", keys[i]), "i", val(t, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Do(""); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.NewReader().Get(context.Background(), "p", keys, []string{"i", "none"})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range got {
		if want := []any{int64(i), nil}; !reflect.DeepEqual(row, want) {
			t.Fatalf("key %s = %#v, want %#v", keys[i], row, want)
		}
	}
}
