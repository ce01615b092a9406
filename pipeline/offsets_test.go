package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/plan"
)

const offsetsYAML = `sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: %q, start: %s%s}
    format: json
    schema: |
      {"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}]}
keys:
  id: {column: id, type: STRING}
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

// offsetsPlan compiles offsetsYAML; kafka adds to the source's kafka.
func offsetsPlan(t *testing.T, brokers, topic, start, kafka string) *plan.Plan {
	t.Helper()
	f, err := config.Parse("o.yaml", fmt.Appendf(nil, offsetsYAML, brokers, topic, topic, start, kafka), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(f, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produceTo produces records id/n to one partition, through cl.
func produceTo(t *testing.T, cl *kgo.Client, topic string, partition int32, ids ...int) {
	t.Helper()
	for _, i := range ids {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, `{"id": "k%d", "n": %d}`, i, i)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func manualClient(t *testing.T, brokers string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runUntil runs p until ctx ends or it catches up, and returns what it wrote.
func runUntil(t *testing.T, p *plan.Plan, d time.Duration, caughtUp bool) (*Pipeline, *memWriter) {
	t.Helper()
	w := &memWriter{}
	pl := New(Options{Plan: p, Writer: w, Logger: slog.New(slog.DiscardHandler), UntilCaughtUp: caughtUp})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := pl.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return pl, w
}

// TestStartLatestQuietPartition checks that a partition with no committed
// offset gets its start committed when it is first assigned: with start:
// latest, records produced to a partition that was quiet in the first run,
// while no process ran, are read by the next run.
func TestStartLatestQuietPartition(t *testing.T) {
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 2, topic)
	cl := manualClient(t, brokers)
	p := offsetsPlan(t, brokers, topic, "latest", "")

	// First run: partition 0 gets records, partition 1 none.
	w := &memWriter{}
	pl := New(Options{Plan: p, Writer: w, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !pl.Assigned() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the claims start
	produceTo(t, cl, topic, 0, 1, 2, 3)
	for pl.Stats().Written < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first run: %v", err)
	}

	// While nothing runs, partition 1 gets records.
	produceTo(t, cl, topic, 1, 10, 11)
	_, w2 := runUntil(t, p, 30*time.Second, true)
	if _, ok := w2.updates["t:k10"]; !ok || len(w2.updates) != 2 {
		t.Errorf("second run wrote %v, want the 2 records produced to the quiet partition while no process ran", keys(w2))
	}
}

// TestOutOfRangeCommit checks that a committed offset below the log's
// start (retention deleted records before they were read) is counted and
// the records it skipped are reported, and that the partition starts
// where start says.
func TestOutOfRangeCommit(t *testing.T) {
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	cl := manualClient(t, brokers)
	produceTo(t, cl, topic, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	sc, err := sarama.NewClient([]string{brokers}, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// The group (named as the topic) reads two records and commits 2.
	gc := manualClient(t, brokers, kgo.ConsumerGroup(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var read []*kgo.Record
	for len(read) < 2 && ctx.Err() == nil {
		read = append(read, gc.PollRecords(ctx, 2-len(read)).Records()...)
	}
	if err := gc.CommitRecords(ctx, read...); err != nil {
		t.Fatal(err)
	}
	gc.Close()
	adm, err := sarama.NewClusterAdminFromClient(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteRecords(topic, map[int32]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	pl, w := runUntil(t, offsetsPlan(t, brokers, topic, "earliest", ""), 30*time.Second, true)
	st := pl.SourceStats()[0]
	if st.OffsetResets != 1 || st.RetentionSkipped != 4 {
		t.Errorf("offset resets %d, records skipped %d; want 1 and 4 (offsets 2-5)", st.OffsetResets, st.RetentionSkipped)
	}
	if len(w.updates) != 4 {
		t.Errorf("wrote %v, want the 4 records from offset 6", keys(w))
	}
}

// TestTransactionsCaughtUp checks read_committed and until-caught-up with
// transactions: records of an aborted transaction are never written, and a
// log that ends with a transaction marker catches up.
func TestTransactionsCaughtUp(t *testing.T) {
	for _, tt := range []struct {
		isolation string
		want      int
	}{{"", 3}, {", isolation: read_uncommitted", 5}} {
		t.Run(strings.TrimPrefix(tt.isolation, ", "), func(t *testing.T) {
			topic := testenv.TopicName(t)
			brokers := testenv.KFake(t, 1, topic)
			cl := manualClient(t, brokers, kgo.TransactionalID("tx-"+topic))
			txn := func(commit bool, ids ...int) {
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				produceTo(t, cl, topic, 0, ids...)
				if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
					t.Fatal(err)
				}
			}
			txn(true, 1, 2)
			txn(false, 3, 4) // aborted
			txn(true, 5)     // the log ends with a commit marker
			_, w := runUntil(t, offsetsPlan(t, brokers, topic, "earliest", tt.isolation), 30*time.Second, true)
			if len(w.updates) != tt.want {
				t.Errorf("wrote %v, want %d records", keys(w), tt.want)
			}
			if _, aborted := w.updates["t:k3"]; aborted && tt.isolation == "" {
				t.Error("a record of the aborted transaction was written under read_committed")
			}
		})
	}
}

func keys(w *memWriter) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := range w.updates {
		out = append(out, k)
	}
	return out
}

// TestCheckIdleStarved checks that a partition that got no message for a
// while, short of its target, is not counted caught up while the broker
// still holds records for it (it was starved of fetches, behind another
// partition's full buffer): only when what is left holds no record.
func TestCheckIdleStarved(t *testing.T) {
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	cl := manualClient(t, brokers)
	produceTo(t, cl, topic, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	sc, err := sarama.NewClient([]string{brokers}, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	p := offsetsPlan(t, brokers, topic, "earliest", "")
	pl := New(Options{Plan: p, Writer: &memWriter{}, UntilCaughtUp: true})
	pl.stop = func(error) {}
	pt := pl.newPartition(pl.sources[0], sc, nil, noMarks{}, topic, 0, func() int64 { return 10 })
	done := false
	pt.setTarget(0, 10, func() { done = true })
	for off := range int64(5) { // offsets 0-4 consumed and written
		pt.add(off, 0, time.Time{})
	}
	pt.lastMessage = time.Now().Add(-time.Minute)
	pt.checkIdle()
	if done {
		t.Fatal("counted caught up with offsets 5-9 still to read")
	}
	for off := int64(5); off < 10; off++ {
		pt.add(off, 0, time.Time{})
	}
	if !done {
		t.Fatal("not caught up after reading up to the target")
	}
}
