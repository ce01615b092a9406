package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feathrgo/feathr/sink"
)

// fakeStore is a Store in memory, for the tests where a real Redis adds
// nothing. It records the options it is opened with and the updates it
// is given, acknowledging each as it is submitted, and reads from values.
// Its zero value is ready to use.
type fakeStore struct {
	// values are what readers read: table → entity key → feature → value.
	values map[string]map[string]map[string]any
	// getErr fails every read.
	getErr error

	mu        sync.Mutex
	opened    []sink.Options
	pingErr   error // Ping fails with it, after the opened address
	pings     int
	closed    bool
	writers   []*fakeWriter
	updates   []sink.Update
	failAfter int   // with failWith: the writer fails at update failAfter+1
	failWith  error // the writer's error
	// blockFlush, when set, makes Flush wait until it is closed (or its
	// context is done).
	blockFlush chan struct{}
	gets       []fakeGet
}

// fakeGet is one call of the fake's reader.
type fakeGet struct {
	table          string
	keys, features []string
}

// open is the fake's Factory.OpenStore.
func (s *fakeStore) open(o sink.Options) (Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = append(s.opened, o)
	return s, nil
}

// Ping fails with pingErr, naming the address as sink.Store.Ping does.
func (s *fakeStore) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pings++
	if s.pingErr != nil {
		return fmt.Errorf("redis at %s: %w", s.opened[len(s.opened)-1].Addr, s.pingErr)
	}
	return nil
}

func (s *fakeStore) setPingErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingErr = err
}

func (s *fakeStore) NewWriter(opts sink.WriterOptions) StoreWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &fakeWriter{s: s, opts: opts, failed: make(chan struct{})}
	s.writers = append(s.writers, w)
	return w
}

func (s *fakeStore) NewReader() StoreReader { return fakeReader{s} }

func (s *fakeStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// written returns a copy of the updates submitted so far.
func (s *fakeStore) written() []sink.Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sink.Update(nil), s.updates...)
}

// waitWritten waits until n updates were submitted.
func (s *fakeStore) waitWritten(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(s.written()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d updates written after 20s, want %d", len(s.written()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeWriter is a fakeStore's writer: it records updates and acks them
// at once, until the store's failAfter.
type fakeWriter struct {
	s      *fakeStore
	opts   sink.WriterOptions
	failed chan struct{}

	mu     sync.Mutex
	err    error
	closes int
}

func (w *fakeWriter) Submit(ctx context.Context, u sink.Update) error {
	if err := w.Err(); err != nil {
		return err
	}
	s := w.s
	s.mu.Lock()
	if s.failWith != nil && len(s.updates) >= s.failAfter {
		s.mu.Unlock()
		w.fail(s.failWith)
		return w.Err()
	}
	s.updates = append(s.updates, u)
	s.mu.Unlock()
	if u.Acker != nil {
		u.Acker.Ack(u.Seq)
	}
	return nil
}

func (w *fakeWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.failed)
	}
}

// Flush has nothing to wait for (every update is acked when submitted)
// unless the store's blockFlush is set.
func (w *fakeWriter) Flush(ctx context.Context) error {
	w.s.mu.Lock()
	block := w.s.blockFlush
	w.s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return w.Err()
}

func (w *fakeWriter) Failed() <-chan struct{} { return w.failed }

func (w *fakeWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stats counts each update as one batch of one command writing one key.
func (w *fakeWriter) Stats() sink.WriterStats {
	n := int64(len(w.s.written()))
	return sink.WriterStats{Batches: n, Commands: n, Writes: n, Updates: n}
}

func (w *fakeWriter) Close() error {
	w.mu.Lock()
	w.closes++
	w.mu.Unlock()
	return w.Err()
}

// fakeReader reads a fakeStore's values: nil for what is not there.
type fakeReader struct{ s *fakeStore }

func (r fakeReader) Get(ctx context.Context, table string, keys, features []string) ([][]any, error) {
	r.s.mu.Lock()
	r.s.gets = append(r.s.gets, fakeGet{table, keys, features})
	r.s.mu.Unlock()
	if r.s.getErr != nil {
		return nil, r.s.getErr
	}
	out := make([][]any, len(keys))
	for i, k := range keys {
		out[i] = make([]any, len(features))
		for j, f := range features {
			out[i][j] = r.s.values[table][k][f]
		}
	}
	return out, nil
}

// fakeRun runs command lines over a Factory whose store is a fakeStore and
// whose interrupts and exit are the test's.
type fakeRun struct {
	f     Factory
	store *fakeStore
	sigs  chan os.Signal // interrupts to deliver
	exits chan int       // the codes Exit was called with
	out   syncBuffer
	err   syncBuffer
}

// newFakeRun returns a fakeRun over st, with env as the environment.
func newFakeRun(st *fakeStore, env map[string]string) *fakeRun {
	r := &fakeRun{store: st, sigs: make(chan os.Signal, 2), exits: make(chan int, 1)}
	r.f = Factory{
		IO:        IOStreams{In: strings.NewReader(""), Out: &r.out, ErrOut: &r.err, LookupEnv: lookupIn(env)},
		OpenStore: st.open,
		Signals:   func() (<-chan os.Signal, func()) { return r.sigs, func() {} },
		Exit:      func(code int) { r.exits <- code },
	}
	return r
}

// run runs feathr with args and returns its exit code.
func (r *fakeRun) run(ctx context.Context, args ...string) int {
	return execute(ctx, &r.f, args)
}

// syncBuffer is a bytes.Buffer safe for the writes of a run's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// errConnRefused stands for a store that does not answer.
var errConnRefused = errors.New("connection refused")
