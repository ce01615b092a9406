package sink

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feathrgo/feathr/config"
)

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
