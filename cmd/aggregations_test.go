package cmd

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/aggtest"
	"github.com/feathrgo/feathr/internal/testenv"
)

// TestMaterializeAggregations materializes every aggregation function from
// kfake into a private Redis and compares what get and multi-get compute
// at several read times, and the stored fields, with the brute-force
// reference: out-of-order, null, late and future events, and a second
// consumer group over the same topic that changes nothing.
func TestMaterializeAggregations(t *testing.T) {
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 3, topic)
	now := time.Now()
	events := aggtest.Events(1, 600, 12, now)
	cl := producer(t, brokers)
	var recs []*kgo.Record
	for i, e := range events {
		v, err := e.Avro()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: v})
	}
	produce(t, cl, recs...)
	ref := aggtest.NewReference(events, now, time.Hour)
	cfg := writeFile(t, "f.yaml", aggtest.Config(brokers, topic, "g1", redisAddr, "", "aggs"))

	code, out, errOut := runCmd(t, context.Background(), "", nil, "materialize", "-f", cfg, "--until-caught-up")
	if code != ExitOK {
		t.Fatalf("materialize: exit %d\n%s\n%s", code, out, errOut)
	}
	var sum struct {
		Read     int64 `json:"records_read"`
		Errors   int64 `json:"record_errors"`
		Late     int64 `json:"late_events_dropped"`
		Applied  int64 `json:"agg_events_applied"`
		Dups     int64 `json:"agg_duplicates_skipped"`
		Rejected int64 `json:"agg_vectors_rejected"`
	}
	decodeJSON(t, out, &sum)
	future, late := 0, 0
	for _, e := range events {
		switch {
		case e.At.Sub(now) > time.Hour:
			future++
		case now.Sub(e.At) > 10*time.Minute && e.Trips != nil && *e.Trips > 2:
			late++ // late for the 10-minute COUNT, or for every window
		case now.Sub(e.At) > 48*time.Hour:
			late++
		}
	}
	if sum.Read != int64(len(events)) || sum.Errors != int64(future) || sum.Late != int64(late) || sum.Dups != 0 || sum.Rejected != 0 {
		t.Errorf("summary %+v; want %d read, %d errors (future), %d late", sum, len(events), future, late)
	}
	checkAggReads(t, cfg, redisAddr, ref, now)

	// A second consumer group reads the same records: every one is a
	// duplicate, and nothing changes.
	cfg2 := writeFile(t, "g2.yaml", aggtest.Config(brokers, topic, "g2", redisAddr, "", "aggs"))
	code, out, errOut = runCmd(t, context.Background(), "", nil, "materialize", "-f", cfg2, "--until-caught-up")
	if code != ExitOK {
		t.Fatalf("materialize g2: exit %d\n%s\n%s", code, out, errOut)
	}
	sum.Applied, sum.Dups = 0, 0 // absent when zero
	decodeJSON(t, out, &sum)
	if sum.Applied != 0 || sum.Dups == 0 {
		t.Errorf("second group: summary %+v; want only duplicates", sum)
	}
	checkAggReads(t, cfg, redisAddr, ref, now)
}

// checkAggReads compares get -f and multi-get -f at several read times,
// and the stored fields (get without -f), with ref.
func checkAggReads(t *testing.T, cfg, redisAddr string, ref *aggtest.Reference, now time.Time) {
	t.Helper()
	names := aggtest.Names()
	drivers := ref.Drivers()
	want := func(T time.Time, keys []string, multi bool) any {
		var rows [][]any
		for _, k := range keys {
			d, _ := strconv.ParseInt(k, 10, 64)
			rows = append(rows, ref.Values(d, T))
		}
		b, err := appendGetJSON(nil, keys, names, rows, multi)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		decodeJSON(t, string(b), &v)
		return v
	}
	run := func(args ...string) any {
		t.Helper()
		code, out, errOut := runCmd(t, context.Background(), "", nil, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		var v any
		decodeJSON(t, out, &v)
		return v
	}
	for _, T := range []time.Time{now, now.Add(5 * time.Minute), now.Add(30 * time.Minute), now.Add(2 * time.Hour), now.Add(30 * time.Hour)} {
		at := strconv.FormatInt(T.UnixMilli(), 10)
		got := run("multi-get", "-f", cfg, "--at", at, "aggs", strings.Join(drivers, ","), strings.Join(names, ","))
		if w := want(T, drivers, true); !reflect.DeepEqual(got, w) {
			t.Errorf("multi-get at now+%v:\n got %v\nwant %v", T.Sub(now), got, w)
		}
		got = run(append([]string{"get", "-f", cfg, "--at", at, "aggs", drivers[0]}, names...)...)
		if w := want(T, drivers[:1], false); !reflect.DeepEqual(got, w) {
			t.Errorf("get at now+%v:\n got %v\nwant %v", T.Sub(now), got, w)
		}
	}
	// The stored fields hold the values as of their last write, moments
	// ago: no tile entered or left a window since (the events are at
	// least two minutes away from that).
	got := run("multi-get", "--redis", "redis://"+redisAddr, "aggs", strings.Join(drivers, ","), strings.Join(names, ","))
	if w := want(time.Now(), drivers, true); !reflect.DeepEqual(got, w) {
		t.Errorf("stored fields:\n got %v\nwant %v", got, w)
	}
}
