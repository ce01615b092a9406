package pipeline

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
)

// compileSource parses and compiles yaml, which must be valid, and
// returns the run's view of its source i.
func compileSource(t testing.TB, yaml string, i int) *source {
	t.Helper()
	f, err := config.Parse("f.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p, err := plan.Compile(f, plan.Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return newSource(p.Sources[i], map[*plan.Materialization]*sink.Table{})
}

// processYAML has one source feeding three materializations: one under a
// composite key, one under a single key, and one under an INT32 key of a
// long column, which can overflow.
const processYAML = `sources:
  s:
    kafka: {brokers: ["localhost:9092"], topics: [trips]}
    schema: |
      {"type": "record", "name": "T", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "city", "type": ["null", "string"]},
        {"name": "n", "type": ["null", "int"]},
        {"name": "big", "type": "long"},
        {"name": "ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]}]}
    timestamp: ts
keys:
  driver: {column: driver_id, type: INT64}
  city: {column: city, type: STRING}
  driver32: {column: driver_id, type: INT32}
anchors:
  by_driver_city:
    source: s
    key: [driver, city]
    features:
      f_n: {type: INT32, transform: "n + 1"}
      f_city: {type: STRING, transform: "upper(city)"}
  by_driver:
    source: s
    key: [driver]
    features:
      f_big: {type: INT64, transform: "big * 1000"}
      f_one: {type: DOUBLE, transform: "1"}
  by_driver32:
    source: s
    key: [driver32]
    features:
      f_n32: {type: INT64, transform: "n"}
materializations:
  composite:
    sink: {redis: {table: ct}}
    features: [f_n, f_city]
  single:
    sink: {redis: {table: st}}
    features: [f_big, f_one]
  narrow:
    sink: {redis: {table: nt}}
    features: [f_n32]
`

// processPath returns a record path of processYAML's one source.
func processPath(t *testing.T) *recordPath {
	t.Helper()
	src := compileSource(t, processYAML, 0)
	if len(src.targets) != 3 {
		t.Fatalf("source has %d targets, want 3", len(src.targets))
	}
	return &recordPath{src: src}
}

// wantUpdate is an update as a test expects it: decoded values.
type wantUpdate struct {
	table     string
	key       string
	fields    map[string]any
	eventTime int64
}

func decodeUpdate(t *testing.T, u sink.Update) wantUpdate {
	t.Helper()
	got := wantUpdate{table: u.Table.Name, key: u.Key, eventTime: u.EventTime, fields: map[string]any{}}
	for _, f := range u.Fields {
		v, err := sink.DecodeValue(f.Value)
		if err != nil {
			t.Fatalf("update %s field %s: %v", u.Key, f.Name, err)
		}
		got.fields[f.Name] = v
	}
	return got
}

func TestRecordPathEvaluate(t *testing.T) {
	rp := processPath(t)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	kafkaTime := at.Add(time.Hour)
	atMs, kafkaMs := at.UnixMilli(), kafkaTime.UnixMilli()

	tests := []struct {
		name string
		rec  record.Record
		want []wantUpdate
		errs []string // evalError messages, in target order
	}{
		{
			name: "every target",
			rec:  record.Record{"driver_id": int64(7), "city": "Seattle", "n": int64(3), "big": int64(5), "ts": at},
			want: []wantUpdate{
				{"ct", "ct:7#Seattle", map[string]any{"f_n": int32(4), "f_city": "SEATTLE"}, atMs},
				{"st", "st:7", map[string]any{"f_big": int64(5000), "f_one": 1.0}, atMs},
				{"nt", "nt:7", map[string]any{"f_n32": int64(3)}, atMs},
			},
		},
		{
			name: "null feature left out, null key part, Kafka time",
			rec:  record.Record{"driver_id": int64(8), "city": nil, "n": int64(1), "big": int64(0), "ts": nil},
			want: []wantUpdate{
				{"ct", "ct:8#_null_", map[string]any{"f_n": int32(2)}, kafkaMs},
				{"st", "st:8", map[string]any{"f_big": int64(0), "f_one": 1.0}, kafkaMs},
				{"nt", "nt:8", map[string]any{"f_n32": int64(1)}, kafkaMs},
			},
		},
		{
			name: "all null: no update for the target",
			rec:  record.Record{"driver_id": int64(9), "city": nil, "n": nil, "big": int64(1), "ts": at},
			want: []wantUpdate{
				{"st", "st:9", map[string]any{"f_big": int64(1000), "f_one": 1.0}, atMs},
			},
		},
		{
			name: "feature error, the other targets still update",
			rec:  record.Record{"driver_id": int64(10), "city": "Oslo", "n": int64(5), "big": int64(1) << 62, "ts": at},
			want: []wantUpdate{
				{"ct", "ct:10#Oslo", map[string]any{"f_n": int32(6), "f_city": "OSLO"}, atMs},
				{"nt", "nt:10", map[string]any{"f_n32": int64(5)}, atMs},
			},
			errs: []string{"materialization single: feature f_big: "},
		},
		{
			name: "key error",
			rec:  record.Record{"driver_id": int64(1) << 40, "city": "Oslo", "n": int64(5), "big": int64(2), "ts": at},
			want: []wantUpdate{
				{"ct", "ct:1099511627776#Oslo", map[string]any{"f_n": int32(6), "f_city": "OSLO"}, atMs},
				{"st", "st:1099511627776", map[string]any{"f_big": int64(2000), "f_one": 1.0}, atMs},
			},
			errs: []string{"materialization narrow: key: driver32 (column driver_id): 1099511627776 overflows INT32"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []sink.Update{{Key: "already:there"}}
			out, errs := rp.evaluate(tt.rec, kafkaTime, prefix)
			if len(out) == 0 || out[0].Key != "already:there" {
				t.Fatalf("evaluate did not append to dst")
			}
			var got []wantUpdate
			for _, u := range out[1:] {
				if u.Acker != nil || u.Seq != 0 {
					t.Errorf("update %s: Acker and Seq are set", u.Key)
				}
				got = append(got, decodeUpdate(t, u))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("updates:\n got %v\nwant %v", got, tt.want)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors = %v, want %d", errs, len(tt.errs))
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tt.errs[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, e, tt.errs[i])
				}
				if e.target == nil || !strings.HasPrefix(tt.errs[i], "materialization "+e.target.Materialization.Config.Name+":") {
					t.Errorf("error %d names target %v", i, e.target)
				}
				if e.Unwrap() == nil || !errors.Is(e, e.err) {
					t.Errorf("error %d does not wrap its cause", i)
				}
			}
		})
	}
}

// TestRecordPathUpdatesAreIndependent keeps the updates of many records,
// processed from several goroutines, and checks them only afterwards:
// updates cut from shared memory must not overlap.
func TestRecordPathUpdatesAreIndependent(t *testing.T) {
	src := processPath(t).src
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const goroutines, records = 4, 3000
	got := make([][]sink.Update, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rp := &recordPath{src: src} // one per partition, as in a run
			for i := range records {
				id := int64(g*records + i)
				r := record.Record{"driver_id": id, "city": strings.Repeat("c", i%40), "n": id, "big": id, "ts": at}
				us, errs := rp.evaluate(r, at, nil)
				if len(errs) > 0 {
					t.Errorf("record %d: %v", id, errs)
					return
				}
				got[g] = append(got[g], us...)
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		for j, u := range got[g] {
			id := int64(g*records + j/3)
			w := decodeUpdate(t, u)
			var want map[string]any
			var key string
			switch w.table {
			case "ct":
				city := strings.Repeat("c", int(id%records)%40)
				key, want = fmt.Sprintf("ct:%d#%s", id, city), map[string]any{"f_n": int32(id + 1), "f_city": strings.ToUpper(city)}
			case "st":
				key, want = fmt.Sprintf("st:%d", id), map[string]any{"f_big": id * 1000, "f_one": 1.0}
			case "nt":
				key, want = fmt.Sprintf("nt:%d", id), map[string]any{"f_n32": id}
			}
			if w.key != key || !reflect.DeepEqual(w.fields, want) {
				t.Fatalf("update %d of goroutine %d = %s %v, want %s %v", j, g, w.key, w.fields, key, want)
			}
		}
	}
}

// TestRecordPathFeatureErrorNamesFeature checks the error of a failing
// transform in detail.
func TestRecordPathFeatureErrorNamesFeature(t *testing.T) {
	rp := processPath(t)
	_, errs := rp.evaluate(record.Record{"driver_id": int64(1), "city": "x", "n": int64(1), "big": int64(math.MaxInt64 / 10)}, time.Now(), nil)
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want 1", errs)
	}
	e := errs[0]
	if e.feature != "f_big" || e.target.Materialization.Config.Name != "single" || e.target.table.Name != "st" {
		t.Errorf("error names feature %q of %q", e.feature, e.target.Materialization.Config.Name)
	}
	if !strings.Contains(e.Error(), "overflow") {
		t.Errorf("error = %q, want it to say overflow", e)
	}
}

// TestRecordPathEventTimeFromLongField compiles a source whose timestamp is a
// long of epoch milliseconds.
func TestRecordPathEventTimeFromLongField(t *testing.T) {
	src := `sources:
  s:
    kafka: {brokers: ["localhost:9092"], topics: [t]}
    schema: '{"type": "record", "name": "T", "fields": [{"name": "id", "type": "string"}, {"name": "at", "type": "long"}]}'
    timestamp: at
keys:
  id: {column: id, type: STRING}
anchors:
  a:
    source: s
    key: [id]
    features:
      at: {type: INT64}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [at]
`
	rp := &recordPath{src: compileSource(t, src, 0)}
	out, terrs := rp.evaluate(record.Record{"id": "a", "at": int64(1_700_000_000_123)}, time.Unix(1, 0), nil)
	if len(terrs) > 0 || len(out) != 1 {
		t.Fatalf("evaluate = %v, %v", out, terrs)
	}
	if out[0].Key != "t:a" || out[0].EventTime != 1_700_000_000_123 {
		t.Errorf("update %s at %d, want t:a at 1700000000123", out[0].Key, out[0].EventTime)
	}
}

// TestEvalErrorMessages checks every form of evalError.Error.
func TestEvalErrorMessages(t *testing.T) {
	tg := &target{name: "m"}
	cause := errors.New("boom")
	if got := (&evalError{kind: kindFeature, target: tg, feature: "f", err: cause}).Error(); got != "materialization m: feature f: boom" {
		t.Errorf("feature error = %q", got)
	}
	if got := (&evalError{kind: kindKey, target: tg, err: cause}).Error(); got != "materialization m: key: boom" {
		t.Errorf("key error = %q", got)
	}
	if got := (&evalError{kind: kindDecode, err: cause}).Error(); got != "decode: boom" {
		t.Errorf("decode error = %q", got)
	}
	if got := (&evalError{kind: kindEventTime, err: cause}).Error(); got != "event time: boom" {
		t.Errorf("event time error = %q", got)
	}
}

// TestRecordPathFutureEventTime checks max_future_skew: an event time
// further ahead of the clock is one error that fails every target, and
// one just inside the bound is written.
func TestRecordPathFutureEventTime(t *testing.T) {
	rp := processPath(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rp.now = func() time.Time { return now }
	if rp.src.Config.MaxFutureSkew != time.Hour {
		t.Fatalf("max_future_skew = %v, want the default 1h", rp.src.Config.MaxFutureSkew)
	}
	rec := func(at time.Time) record.Record {
		return record.Record{"driver_id": int64(7), "city": "Oslo", "n": int64(3), "big": int64(5), "ts": at}
	}
	for _, tt := range []struct {
		name    string
		at      time.Time
		updates int
		err     string
	}{
		{"past", now.Add(-24 * time.Hour), 3, ""},
		{"just inside the bound", now.Add(time.Hour), 3, ""},
		{"microseconds read as milliseconds", time.UnixMilli(now.UnixMicro()), 0, "event time: "},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 0, "event time: 3000-01-01T00:00:00Z is "},
		{"an hour and a second ahead", now.Add(time.Hour + time.Second), 0, "ahead of the clock (max_future_skew 1h0m0s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errs := rp.evaluate(rec(tt.at), now, nil)
			if len(out) != tt.updates {
				t.Errorf("%d updates, want %d", len(out), tt.updates)
			}
			if tt.err == "" {
				if len(errs) != 0 {
					t.Errorf("errors %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].kind != kindEventTime || errs[0].target != nil || !strings.Contains(errs[0].Error(), tt.err) {
				t.Fatalf("errors %v, want one event time error containing %q", errs, tt.err)
			}
		})
	}
}

// TestRecordPathFutureEventTimeClockMoves checks that reading the clock
// only when an event time is far ahead of the last reading never lets a
// future event through, nor refuses one the clock has reached meanwhile.
func TestRecordPathFutureEventTimeClockMoves(t *testing.T) {
	rp := processPath(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	reads := 0
	rp.now = func() time.Time { reads++; return now }
	rec := func(at time.Time) record.Record {
		return record.Record{"driver_id": int64(7), "city": "Oslo", "n": int64(3), "big": int64(5), "ts": at}
	}
	for i, tt := range []struct {
		advance time.Duration // of the clock, before the event
		ahead   time.Duration // of the event, over the clock
		ok      bool
		reads   int // clock reads so far
	}{
		{0, 0, true, 1},
		{time.Minute, 0, true, 1},                // within the skew of the last reading: no read
		{time.Minute, 30 * time.Minute, true, 1}, // still within it
		{3 * time.Hour, 0, true, 2},              // beyond the last reading's skew: read, and on time
		{0, 2 * time.Hour, false, 3},             // too far ahead of the clock just read
		{5 * time.Hour, time.Hour + time.Second, false, 4},
		{0, time.Hour, true, 4},
	} {
		now = now.Add(tt.advance)
		_, errs := rp.evaluate(rec(now.Add(tt.ahead)), now, nil)
		if ok := len(errs) == 0; ok != tt.ok {
			t.Errorf("event %d (%v ahead): errors %v, want ok %v", i, tt.ahead, errs, tt.ok)
		}
		if reads != tt.reads {
			t.Errorf("event %d: %d clock reads, want %d", i, reads, tt.reads)
		}
	}
}
