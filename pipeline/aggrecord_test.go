package pipeline

import (
	"reflect"
	"testing"
	"time"

	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
	"github.com/feathrgo/feathr/window"
)

// aggYAML has a source whose anchor mixes a row-level feature and one
// aggregation of each kind of input.
const aggYAML = `sources:
  s:
    kafka: {brokers: ["localhost:9092"], topics: [trips]}
    format: json
    schema: |
      {"type": "record", "name": "E", "fields": [{"name": "driver_id", "type": "long"},
        {"name": "n", "type": ["null", "long"]}, {"name": "city", "type": ["null", "string"]},
        {"name": "v", "type": ["null", {"type": "array", "items": "double"}]}]}
keys:
  driver: {column: driver_id, type: INT64}
anchors:
  a:
    source: s
    key: [driver]
    features:
      f_n: {type: INT64, transform: "n"}
      f_count: {type: INT64, transform: {agg_func: COUNT, agg_expr: "1", window: 10m, filter: "n > 0"}}
      f_sum: {type: INT64, transform: {agg_func: SUM, agg_expr: n, window: 1h}}
      f_latest: {type: STRING, transform: {agg_func: LATEST, agg_expr: city, window: 1h}}
      f_pool: {type: DOUBLE_VECTOR, transform: {agg_func: AVG_POOLING, agg_expr: v, window: 1h}}
      f_distinct: {type: INT64, transform: {agg_func: COUNT_DISTINCT, agg_expr: city, window: 5m}}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_distinct, f_n, f_count, f_sum, f_latest, f_pool]
`

func TestRecordPathAggregations(t *testing.T) {
	src := compileSource(t, aggYAML, 0)
	now := time.UnixMilli(1_800_000_000_000)
	rp := &recordPath{src: src, now: func() time.Time { return now }, pos: kafkaPos{"trips", 3, 42}}
	val := func(s string) []byte {
		b, err := sink.AppendValue(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hash := func(v any) uint64 {
		h, err := window.Hash(v)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name string
		rec  record.Record
		at   time.Time      // the event time (the Kafka timestamp)
		want []window.Input // in the materialization's order: distinct, count, sum, latest, pool; nil: no event
		late int64
	}{
		{"every input", record.Record{"driver_id": int64(1), "n": int64(3), "city": "x", "v": []any{1.0, 2.0}}, now.Add(-time.Minute),
			[]window.Input{
				{Kind: window.InputValue, Hash: hash("x")},
				{Kind: window.InputValue},
				{Kind: window.InputValue, Num: 3},
				{Kind: window.InputValue, Value: val("x")},
				{Kind: window.InputValue, Vec: []float64{1, 2}},
			}, 0},
		{"nulls and a filtered-out row", record.Record{"driver_id": int64(1), "n": nil, "city": nil, "v": nil}, now.Add(-time.Minute),
			[]window.Input{{Kind: window.InputNull}, {}, {Kind: window.InputNull}, {Kind: window.InputNull}, {Kind: window.InputNull}}, 0},
		{"late for the short windows", record.Record{"driver_id": int64(1), "n": int64(2), "city": "y", "v": []any{1.0}}, now.Add(-20 * time.Minute),
			[]window.Input{{}, {}, {Kind: window.InputValue, Num: 2}, {Kind: window.InputValue, Value: val("y")}, {Kind: window.InputValue, Vec: []float64{1}}}, 1},
		{"late for every window", record.Record{"driver_id": int64(1), "n": nil}, now.Add(-2 * time.Hour), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := src.targets[0].late.Load()
			us, errs := rp.evaluate(tt.rec, tt.at, nil)
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			if got := src.targets[0].late.Load() - before; got != tt.late {
				t.Errorf("late %d, want %d", got, tt.late)
			}
			var ev *sink.AggEvent
			for _, u := range us {
				ev = u.Agg
			}
			if tt.want == nil {
				if ev != nil {
					t.Fatalf("event %+v, want none", ev)
				}
				return
			}
			if ev == nil {
				t.Fatal("no event")
			}
			if ev.Topic != "trips" || ev.Partition != 3 || ev.Offset != 42 || ev.Time != tt.at.UnixMilli() {
				t.Errorf("event at %s/%d@%d time %d", ev.Topic, ev.Partition, ev.Offset, ev.Time)
			}
			if !reflect.DeepEqual(ev.Inputs, tt.want) {
				t.Errorf("inputs\n got %+v\nwant %+v", ev.Inputs, tt.want)
			}
		})
	}
}

func TestAggInputs(t *testing.T) {
	src := compileSource(t, aggYAML, 0)
	tbl := src.targets[0].table
	latest, err := sink.AppendValue(nil, "x")
	if err != nil {
		t.Fatal(err)
	}
	ev := &sink.AggEvent{Inputs: []window.Input{
		{Kind: window.InputValue, Hash: 0xab},
		{},
		{Kind: window.InputValue, Num: 2.5},
		{Kind: window.InputValue, Value: latest},
		{Kind: window.InputNull},
	}}
	got := aggInputs(tbl, ev)
	want := map[string]any{"f_distinct": "00000000000000ab", "f_sum": 2.5, "f_latest": "x", "f_pool": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
