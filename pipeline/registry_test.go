package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// memWriter is a Writer that keeps the updates in memory and acknowledges
// each at once: for tests of the pipeline where Redis adds nothing.
type memWriter struct {
	mu      sync.Mutex
	updates map[string]sink.Update // by key: the last one
	n       int
}

func (w *memWriter) Submit(_ context.Context, u sink.Update) error {
	w.mu.Lock()
	if w.updates == nil {
		w.updates = map[string]sink.Update{}
	}
	w.updates[u.Key] = u
	w.n++
	w.mu.Unlock()
	if u.Acker != nil {
		u.Acker.Ack(u.Seq)
	}
	return nil
}

func (w *memWriter) Flush(context.Context) error { return nil }
func (w *memWriter) Failed() <-chan struct{}     { return nil }
func (w *memWriter) Err() error                  { return nil }
func (w *memWriter) Stats() sink.WriterStats     { return sink.WriterStats{} }

const confluentYAML = `sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: %q, start: earliest}
    format: confluent
    registry: {url: %q}
    schema: |
      {"type": "record", "name": "T", "fields": [{"name": "id", "type": "long"}, {"name": "n", "type": "long"}]}
keys:
  id: {column: id, type: INT64}
anchors:
  a:
    source: s
    key: [id]
    features:
      f_n: {type: INT64, transform: n}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_n]
`

const confluentSchema = `{"type": "record", "name": "T", "fields": [{"name": "id", "type": "long"}, {"name": "n", "type": "long"}]}`

// flakyRegistry serves schema id 1 and answers fail (e.g. 503) to the
// first failures lookups.
type flakyRegistry struct {
	code     int
	failures int64
	calls    atomic.Int64
}

func (r *flakyRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.calls.Add(1) <= r.failures {
		w.WriteHeader(r.code)
		fmt.Fprintf(w, `{"error_code":%d,"message":"down"}`, r.code*100+1)
		return
	}
	if req.URL.Path != "/schemas/ids/1" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40403,"message":"Schema not found"}`)
		return
	}
	fmt.Fprintf(w, `{"schema": %q}`, confluentSchema)
}

// produceConfluent produces n records of schema id 1, Confluent-framed.
func produceConfluent(t *testing.T, brokers, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		v := []byte{0, 0, 0, 0, 1}
		v = binary.AppendVarint(v, int64(i))
		v = binary.AppendVarint(v, int64(i*10))
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func registryRun(t *testing.T, reg http.Handler, n int) (*Pipeline, *memWriter, error) {
	t.Helper()
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 2, topic)
	produceConfluent(t, brokers, topic, n)
	f, err := config.Parse("c.yaml", fmt.Appendf(nil, confluentYAML, brokers, topic, topic, srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &memWriter{}
	pl := New(Options{Plan: p, Writer: w, Logger: slog.New(slog.DiscardHandler), UntilCaughtUp: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return pl, w, pl.Run(ctx)
}

// TestRegistryOutageWaits checks that a schema registry that answers 503
// (then comes back) pauses the partitions instead of skipping records:
// every record is written, none is a bad record.
func TestRegistryOutageWaits(t *testing.T) {
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			const n = 50
			reg := &flakyRegistry{code: code, failures: 4}
			pl, w, err := registryRun(t, reg, n)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			st := pl.Stats()
			if st.Read != n || st.Written != n || st.Errors != 0 || st.Skipped != 0 || len(w.updates) != n {
				t.Errorf("read %d, written %d, errors %d, skipped %d, keys %d; want %d each and no errors", st.Read, st.Written, st.Errors, st.Skipped, len(w.updates), n)
			}
			if retries := pl.SourceStats()[0].RegistryRetries; retries == 0 {
				t.Error("no registry retries counted")
			}
			if !pl.CaughtUp() {
				t.Error("the run did not catch up")
			}
		})
	}
}

// TestRegistryRefusedStops checks that a registry refusing the credentials
// ends the run with an error naming the record, instead of skipping
// every record.
func TestRegistryRefusedStops(t *testing.T) {
	pl, _, err := registryRun(t, &flakyRegistry{code: http.StatusUnauthorized, failures: 1 << 30}, 5)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "@") {
		t.Fatalf("Run = %v, want the registry's refusal at a record", err)
	}
	if st := pl.Stats(); st.Skipped != 0 || st.Written != 0 {
		t.Errorf("skipped %d, written %d; want 0", st.Skipped, st.Written)
	}
}
