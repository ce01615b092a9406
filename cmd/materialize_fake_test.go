package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// fakeAddr is the online store of the tests' files whose store is a
// fakeStore: nothing listens there.
const fakeAddr = "fake-redis.invalid:6379"

// fakeSummary is materialize's summary, with the writer's counters.
type fakeSummary struct {
	runSummary
	Materializations []string `json:"materializations"`
	KeysWritten      int64    `json:"keys_written"`
	RedisBatches     int64    `json:"redis_batches"`
}

// fakeTopic starts kfake with a topic of parts partitions holding trips,
// trip i in partition i%parts, and writes a feature file over it whose
// online store is fakeAddr. It returns the brokers, the topic and the
// file.
func fakeTopic(t *testing.T, parts int, trips ...trip) (brokers, topic, cfg string) {
	t.Helper()
	topic = testenv.TopicName(t)
	brokers = testenv.KFake(t, parts, topic)
	if len(trips) > 0 {
		cl := producer(t, brokers)
		for i, tr := range trips {
			produce(t, cl, tripRecord(t, topic, int32(i%parts), tr))
		}
	}
	return brokers, topic, writeFile(t, "f.yaml", seedConfig(brokers, topic, fakeAddr, ""))
}

// TestMaterializeFakeStore runs materialize against kfake with a fake
// store: the summary counts what the store was given, each update holds
// the record's key, features and event time, and the acks the store
// gave are what the consumer group committed.
func TestMaterializeFakeStore(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var trips []trip
	for i := range 10 {
		trips = append(trips, trip{driver: int64(i), trips: int32(3 * i), at: base.Add(time.Duration(i) * time.Second)})
	}
	brokers, topic, cfg := fakeTopic(t, 2, trips...)

	// A dry run does not open the store.
	st := &fakeStore{}
	r := newFakeRun(st, nil)
	if code := r.run(context.Background(), "materialize", "-f", cfg, "--dry-run", "--start", "earliest", "--dry-run-rows", "1"); code != ExitOK || len(st.opened) != 0 {
		t.Fatalf("dry run: exit %d, store opened %d times, want 0 and none\nstderr: %s", code, len(st.opened), r.err.String())
	}

	st = &fakeStore{}
	r = newFakeRun(st, nil)
	code := r.run(context.Background(), "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, r.out.String(), r.err.String())
	}
	var sum fakeSummary
	decodeJSON(t, r.out.String(), &sum)
	if sum.Read != 10 || sum.Written != 10 || sum.KeysWritten != 10 || sum.RedisBatches != 10 || sum.Stopped != "caught-up" ||
		!slices.Equal(sum.Materializations, []string{"kafkaSampleDemo"}) {
		t.Errorf("summary %s: want 10 read, written, keys and batches, caught-up, kafkaSampleDemo", r.out.String())
	}

	updates := st.written()
	if len(updates) != 10 {
		t.Fatalf("%d updates written, want 10", len(updates))
	}
	seen := map[string]bool{}
	for _, u := range updates {
		var d int64
		if _, err := fmt.Sscanf(u.Key, "kafkaSampleDemoFeature:%d", &d); err != nil || seen[u.Key] {
			t.Errorf("update of key %q: not a driver's, or twice", u.Key)
			continue
		}
		seen[u.Key] = true
		if u.Table == nil || u.Table.Name != "kafkaSampleDemoFeature" || u.EventTime != base.Add(time.Duration(d)*time.Second).UnixMilli() {
			t.Errorf("update %s: table %v, event time %d", u.Key, u.Table, u.EventTime)
		}
		got := map[string]any{}
		for _, f := range u.Fields {
			v, err := sink.DecodeValue(f.Value)
			if err != nil {
				t.Fatalf("update %s, %s: %v", u.Key, f.Name, err)
			}
			got[f.Name] = v
		}
		if got["f_modified_streaming_count"] != int32(3*d+1) || got["f_busy"] != (3*d > 10) || len(got) != 3 {
			t.Errorf("update %s: features %v, want f_modified_streaming_count %d, f_busy %v and f_modified_streaming_count2", u.Key, got, 3*d+1, 3*d > 10)
		}
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 2); !slices.Equal(got, []int64{5, 5}) {
		t.Errorf("committed %v, want [5 5]: every update was acked", got)
	}

	// The store is the file's, pinged once at start; the writer is sized
	// for freshness, tells the metrics of each batch, and is closed, and
	// then the store.
	if len(st.opened) != 1 || st.opened[0].Addr != fakeAddr || st.pings != 1 || !st.closed {
		t.Errorf("store opened with %+v, pinged %d times, closed %v; want once at %s, pinged once, closed", st.opened, st.pings, st.closed, fakeAddr)
	}
	if w := st.writers; len(w) != 1 || !w[0].opts.SendWhenIdle || w[0].opts.OnBatch == nil || w[0].opts.Logger == nil || w[0].closes == 0 {
		t.Errorf("writers %+v: want one, sending when idle, with OnBatch and a logger, closed", w)
	}
	if want := "redis=" + fakeAddr; !strings.Contains(r.err.String(), want) {
		t.Errorf("stderr does not log %s:\n%s", want, r.err.String())
	}
}

// TestMaterializeStoreRefusesPing checks that a store that does not answer
// ends materialize at start with exit 1, one line naming the address
// picked by the precedence of storeOptions, and no summary.
func TestMaterializeStoreRefusesPing(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "f.yaml", seedConfig("127.0.0.1:1", "t", fakeAddr, ""))
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		addr string
	}{
		{"the file's", nil, nil, fakeAddr},
		{"--redis over the file", []string{"--redis", "redis://flag.invalid:7000"}, nil, "flag.invalid:7000"},
		{"the file over FEATHR_REDIS_URL", nil, map[string]string{"FEATHR_REDIS_URL": "redis://env.invalid:7001"}, fakeAddr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{pingErr: errConnRefused}
			r := newFakeRun(st, tt.env)
			code := r.run(context.Background(), append([]string{"materialize", "-f", cfg}, tt.args...)...)
			if code != ExitError {
				t.Errorf("exit %d, want 1", code)
			}
			if want := "feathr: redis at " + tt.addr + ": connection refused\n"; r.err.String() != want || r.out.String() != "" {
				t.Errorf("stdout %q, stderr %q; want no summary and %q", r.out.String(), r.err.String(), want)
			}
			if len(st.writers) != 0 || !st.closed {
				t.Errorf("%d writers, store closed %v: want none, closed", len(st.writers), st.closed)
			}
		})
	}
}

// TestMaterializeWriterFails checks that a writer failing for good ends
// the run with exit 1 and its error, after committing only what it
// acknowledged.
func TestMaterializeWriterFails(t *testing.T) {
	t.Parallel()
	brokers, topic, cfg := fakeTopic(t, 1)
	badRecordTopic(t, brokers, topic) // offset 5 does not decode: it is never reached
	st := &fakeStore{failAfter: 3, failWith: errors.New("OOM command not allowed")}
	r := newFakeRun(st, nil)
	code := r.run(context.Background(), "materialize", "-f", cfg, "--start", "earliest", "--timeout", "30s")
	if code != ExitError {
		t.Errorf("exit %d, want 1\nstderr: %s", code, r.err.String())
	}
	var sum runSummary
	decodeJSON(t, r.out.String(), &sum)
	const want = "redis: OOM command not allowed"
	if sum.Stopped != "error" || sum.Error != want || sum.Written != 3 {
		t.Errorf("summary %+v, want stopped error %q, 3 written", sum, want)
	}
	if !strings.HasSuffix(r.err.String(), "feathr: "+want+"\n") {
		t.Errorf("stderr does not end with the error:\n%s", r.err.String())
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 3 {
		t.Errorf("committed offset %d, want 3: the acknowledged records'", got[0])
	}
}

// TestMaterializeInterrupts checks the interrupts of a run: the first
// ends it as an ordinary stop, with its writes committed; a second one
// during the end of the run exits at once with code 130.
func TestMaterializeInterrupts(t *testing.T) {
	t.Parallel()
	var trips []trip
	for i := range 4 {
		trips = append(trips, trip{driver: int64(i), trips: 1, at: time.Now()})
	}
	brokers, topic, cfg := fakeTopic(t, 1, trips...)

	// runUntil runs materialize until the store was given n updates, then
	// sends the interrupts sigs, and returns the exit code.
	runUntil := func(st *fakeStore, r *fakeRun, n int, sigs ...syscall.Signal) int {
		t.Helper()
		codes := make(chan int, 1)
		go func() {
			codes <- r.run(context.Background(), "materialize", "-f", cfg, "--start", "earliest", "--timeout", "60s")
		}()
		st.waitWritten(t, n)
		for _, s := range sigs {
			r.sigs <- s
		}
		select {
		case code := <-codes:
			return code
		case <-time.After(30 * time.Second):
			t.Fatalf("materialize did not end 30s after the interrupt\nstderr: %s", r.err.String())
			return 0
		}
	}

	st := &fakeStore{}
	r := newFakeRun(st, nil)
	if code := runUntil(st, r, 4, syscall.SIGTERM); code != ExitOK {
		t.Errorf("exit %d, want 0\nstderr: %s", code, r.err.String())
	}
	var sum runSummary
	decodeJSON(t, r.out.String(), &sum)
	if sum.Stopped != "signal" || sum.Written != 4 {
		t.Errorf("summary %+v, want stopped signal, 4 written", sum)
	}
	if want := `msg="stopping: writing what is in flight and committing (signal again to exit at once)" signal=terminated`; !strings.Contains(r.err.String(), want) {
		t.Errorf("stderr does not log %s:\n%s", want, r.err.String())
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 4 {
		t.Errorf("committed offset %d, want 4", got[0])
	}

	// The final flush waits until the process is told to exit.
	produce(t, producer(t, brokers), tripRecord(t, topic, 0, trip{driver: 9, trips: 1, at: time.Now()}))
	st = &fakeStore{blockFlush: make(chan struct{})}
	r = newFakeRun(st, nil)
	r.f.Exit = func(code int) {
		r.exits <- code
		close(st.blockFlush)
	}
	runUntil(st, r, 1, syscall.SIGINT, syscall.SIGINT)
	select {
	case code := <-r.exits:
		if code != ExitInterrupted {
			t.Errorf("second interrupt: exit %d, want 130", code)
		}
	default:
		t.Errorf("a second interrupt did not exit\nstderr: %s", r.err.String())
	}
	if want := `msg="second signal: exiting without a final commit; uncommitted records will be read again" signal=interrupt`; !strings.Contains(r.err.String(), want) {
		t.Errorf("stderr does not log %s:\n%s", want, r.err.String())
	}
}

// TestMaterializeReadiness checks /readyz of --metrics-addr over a fake
// store: ready while the run has its partitions and the store answers,
// not ready with the store's error once it does not.
func TestMaterializeReadiness(t *testing.T) {
	t.Parallel()
	_, _, cfg := fakeTopic(t, 1, trip{driver: 1, trips: 1, at: time.Now()})
	st := &fakeStore{}
	r := newFakeRun(st, nil)
	codes := make(chan int, 1)
	go func() {
		codes <- r.run(context.Background(), "materialize", "-f", cfg, "--start", "earliest", "--timeout", "60s", "--metrics-addr", "127.0.0.1:0")
	}()
	st.waitWritten(t, 1)
	m := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(r.err.String())
	if m == nil {
		t.Fatalf("no address of the metrics server in stderr:\n%s", r.err.String())
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK && body == "ready\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q after 20s, want 200 ready", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.setPingErr(errConnRefused)
	want := "not ready: redis at " + fakeAddr + ": connection refused\n"
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/readyz with the store down: %d %q, want 503 %q", code, body, want)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "\nfeathr_redis_updates_total 1\n") {
		t.Errorf("/metrics does not count the fake writer's update:\n%s", body)
	}
	r.sigs <- syscall.SIGTERM
	if code := <-codes; code != ExitOK {
		t.Errorf("exit %d, want 0\nstderr: %s", code, r.err.String())
	}
}

// TestMaterializeProgress checks the progress line on a terminal stderr:
// redrawn while the run goes on, and ended by a newline once it is over.
func TestMaterializeProgress(t *testing.T) {
	t.Parallel()
	_, _, cfg := fakeTopic(t, 1, trip{driver: 1, trips: 1, at: time.Now()})
	r := newFakeRun(&fakeStore{}, nil)
	r.f.IO.ErrIsTerminal = true
	if code := r.run(context.Background(), "materialize", "-f", cfg, "--start", "earliest", "--timeout", "1500ms"); code != ExitOK {
		t.Fatalf("exit %d\nstderr: %s", code, r.err.String())
	}
	errOut := r.err.String()
	i := strings.LastIndex(errOut, "\r\033[K")
	if i < 0 {
		t.Fatalf("no progress line in stderr:\n%q", errOut)
	}
	if last := errOut[i+len("\r\033[K"):]; !regexp.MustCompile(`^read 1 \(\d+/s\)  written 1  errors 0  lag 0\n$`).MatchString(last) {
		t.Errorf("stderr ends with %q, want the last progress line and a newline", last)
	}
}
