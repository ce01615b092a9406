package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
)

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
