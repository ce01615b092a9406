package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// twoSourcesYAML has a source on a working broker, then one on a broker
// that never answers.
const twoSourcesYAML = `sources:
  good:
    kafka: {brokers: [%q], topics: [%q], group: good, start: earliest}
    format: json
    schema: |
      {"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}]}
  bad:
    kafka: {brokers: [%q], topics: [t], group: bad}
    format: json
    schema: |
      {"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}]}
keys:
  id: {column: id, type: STRING}
anchors:
  a:
    source: good
    key: [id]
    features:
      fa: {type: INT64, transform: "n"}
  b:
    source: bad
    key: [id]
    features:
      fb: {type: INT64, transform: "n"}
online_store:
  redis: {addr: "127.0.0.1:6379"}
materializations:
  ma:
    sink: {redis: {table: ta}}
    features: [fa]
  mb:
    sink: {redis: {table: tb}}
    features: [fb]
`

// TestRunSourceConnectFails checks that a source that cannot connect ends
// the run before any consumer started: when Run returns, no consumer of
// the sources that did connect is left running on the writer.
func TestRunSourceConnectFails(t *testing.T) {
	const topic = "good-topic"
	brokers := testenv.KFake(t, 1, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, `{"id": "k%d", "n": %d}`, i, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := config.Parse("two.yaml", fmt.Appendf(nil, twoSourcesYAML, brokers, topic, testenv.SilentAddr(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sink.Open(sink.Options{Addr: testenv.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	w := st.NewWriter(sink.WriterOptions{Logger: log})
	defer w.Close()
	pl := New(Options{Plan: p, Writer: w, Logger: log, StartTimeout: 2 * time.Second})
	err = pl.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "source bad") {
		t.Fatalf("Run = %v, want the connect error of source bad", err)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"pipeline.(*Pipeline).consume", "pipeline.(*handler)"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("after Run returned, a goroutine still runs %s", fn)
		}
	}
	if st := pl.Stats(); st.Read != 0 {
		t.Errorf("read %d records: a consumer started before every source connected", st.Read)
	}
}

// TestDryRunStartTimeout checks that a dry run connects as Run does: a
// broker that never answers ends it at the start timeout, with the
// source named.
func TestDryRunStartTimeout(t *testing.T) {
	f, err := config.Parse("two.yaml", fmt.Appendf(nil, twoSourcesYAML, testenv.KFake(t, 1, "t"), "t", testenv.SilentAddr(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl := New(Options{Plan: p, Logger: slog.New(slog.DiscardHandler), StartTimeout: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- pl.DryRun(context.Background(), 1, func(Row) error { return nil }) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "source bad") || !strings.Contains(err.Error(), "no broker answered within 300ms") {
			t.Errorf("DryRun = %v, want source bad's start timeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("DryRun still connecting after 20s")
	}
}
