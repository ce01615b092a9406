// Package aggtest is the workload of the sliding-window aggregation
// tests that run feathr end to end (package cmd on kfake, package e2e on
// the real broker): a source of trips whose fields may be null, one
// aggregated feature of each function beside a row-level one, random
// events (out of order, null, late, in the future, too far in the
// future), and the values package window's brute-force Reference gives
// for them at any read time, in the form feathr get prints.
//
// aggtest imports window and feature of feathr's packages, and goavro;
// only tests import it.
package aggtest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// Schema is the trips' Avro schema: trips, city and emb may be null.
const Schema = `{"type": "record", "name": "AggTrip", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "trips", "type": ["null", "int"]},
  {"name": "city", "type": ["null", "string"]},
  {"name": "emb", "type": ["null", {"type": "array", "items": "double"}]},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`

// Feature is one aggregated feature of the workload.
type Feature struct {
	Name string
	Type feature.Type
	Spec window.Spec
	// input is the feature's input from an event, as feathr's record
	// path computes it from its filter and agg_expr.
	input func(e Event) window.Input
}

// Config returns a feathr file reading topic from brokers into table of
// the Redis at redisAddr (a "redis+cluster://" URL is not needed: set
// cluster with extraRedis, e.g. ", cluster: true"), with the source
// named src and the materialization m.
func Config(brokers, topic, group, redisAddr, extraRedis, table string) string {
	return fmt.Sprintf(`sources:
  trips:
    kafka: {brokers: [%q], topics: [%q], group: %q, start: earliest}
    format: avro
    schema: |
      %s
    timestamp: datetime
keys:
  driver_id: {type: INT64}
anchors:
  aggTrips:
    source: trips
    key: [driver_id]
    features:
      f_trips: {type: INT32, transform: trips}
      f_count_10m: {type: INT64, transform: {agg_func: COUNT, agg_expr: trips, window: 10m, filter: "trips > 2"}}
      f_sum_1h: {type: INT64, transform: {agg_func: SUM, agg_expr: trips, window: 1h}}
      f_avg_1d: {type: DOUBLE, transform: {agg_func: AVG, agg_expr: "cast_double(trips)", window: 1d, hop: 1h}}
      f_min_1h: {type: DOUBLE, transform: {agg_func: MIN, agg_expr: trips, window: 1h}}
      f_max_1h: {type: INT32, transform: {agg_func: max, agg_expr: trips, window: 1h, allowed_lateness: 0s}}
      f_city_latest: {type: STRING, transform: {agg_func: LATEST, agg_expr: "upper(city)", window: 1h}}
      f_emb_max: {type: DOUBLE_VECTOR, transform: {agg_func: MAX_POOLING, agg_expr: emb, window: 1h}}
      f_emb_min: {type: DOUBLE_VECTOR, transform: {agg_func: MIN_POOLING, agg_expr: emb, window: 1h}}
      f_emb_avg: {type: DOUBLE_VECTOR, transform: {agg_func: AVG_POOLING, agg_expr: emb, window: 1h}}
      f_cities: {type: INT64, transform: {agg_func: COUNT_DISTINCT, agg_expr: city, window: 1h}}
online_store:
  redis: {addr: %q%s}
materializations:
  m:
    sink: {redis: {table: %s}}
    features: [f_trips, f_count_10m, f_sum_1h, f_avg_1d, f_min_1h, f_max_1h, f_city_latest, f_emb_max, f_emb_min, f_emb_avg, f_cities]
`, brokers, topic, group, indent(Schema), redisAddr, extraRedis, table)
}

func indent(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, "      "...)
		}
	}
	return string(out)
}

// Features returns the aggregated features of Config, in its
// materialization's order.
func Features() []Feature {
	m, h := time.Minute, time.Hour
	num := func(e Event) window.Input {
		if e.Trips == nil {
			return window.Input{Kind: window.InputNull}
		}
		return window.Input{Kind: window.InputValue, Num: float64(*e.Trips)}
	}
	vec := func(e Event) window.Input {
		if e.Emb == nil {
			return window.Input{Kind: window.InputNull}
		}
		return window.Input{Kind: window.InputValue, Vec: e.Emb}
	}
	sp := func(f window.Func, w, hop, late time.Duration) window.Spec {
		return window.Spec{Func: f, Window: w, Hop: hop, Lateness: late}
	}
	return []Feature{
		{"f_count_10m", feature.Int64, sp(window.Count, 10*m, m, m), func(e Event) window.Input {
			if e.Trips == nil || *e.Trips <= 2 {
				return window.Input{} // the filter is null or false
			}
			return window.Input{Kind: window.InputValue}
		}},
		{"f_sum_1h", feature.Int64, sp(window.Sum, h, 5*m, 5*m), num},
		{"f_avg_1d", feature.Double, sp(window.Avg, window.Day, h, h), num},
		{"f_min_1h", feature.Double, sp(window.Min, h, 5*m, 5*m), num},
		{"f_max_1h", feature.Int32, sp(window.Max, h, 5*m, 0), num},
		{"f_city_latest", feature.String, sp(window.Latest, h, 5*m, 5*m), func(e Event) window.Input {
			if e.City == nil {
				return window.Input{Kind: window.InputNull}
			}
			return window.Input{Kind: window.InputValue, Value: []byte(upper(*e.City))}
		}},
		{"f_emb_max", feature.DoubleVector, sp(window.MaxPooling, h, 5*m, 5*m), vec},
		{"f_emb_min", feature.DoubleVector, sp(window.MinPooling, h, 5*m, 5*m), vec},
		{"f_emb_avg", feature.DoubleVector, sp(window.AvgPooling, h, 5*m, 5*m), vec},
		{"f_cities", feature.Int64, sp(window.CountDistinct, h, 5*m, 5*m), func(e Event) window.Input {
			if e.City == nil {
				return window.Input{Kind: window.InputNull}
			}
			hash, _ := window.Hash(*e.City)
			return window.Input{Kind: window.InputValue, Hash: hash}
		}},
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Names returns the names of the aggregated features, then f_trips.
func Names() []string {
	var out []string
	for _, f := range Features() {
		out = append(out, f.Name)
	}
	return append(out, "f_trips")
}

// Event is one trip: Trips, City and Emb nil are null.
type Event struct {
	Driver int64
	Trips  *int32
	City   *string
	Emb    []float64
	At     time.Time
}

// Avro returns the event's plain Avro binary in Schema.
func (e Event) Avro() ([]byte, error) {
	codec, err := goavro.NewCodec(Schema)
	if err != nil {
		return nil, err
	}
	v := map[string]any{"driver_id": e.Driver, "trips": nil, "city": nil, "emb": nil, "datetime": e.At}
	if e.Trips != nil {
		v["trips"] = goavro.Union("int", *e.Trips)
	}
	if e.City != nil {
		v["city"] = goavro.Union("string", *e.City)
	}
	if e.Emb != nil {
		items := make([]any, len(e.Emb))
		for i, x := range e.Emb {
			items[i] = x
		}
		v["emb"] = goavro.Union("array", items)
	}
	return codec.BinaryFromNative(nil, v)
}

// Events returns n events of drivers 1..drivers around now, seeded:
// most within 8 minutes before now (every window holds them), some up to
// 50 minutes before (late for the 10-minute COUNT only), a few 3 days
// before (late for every window), a few 3 to 5 minutes after now (in the
// future, but within max_future_skew: in no window until then) and a
// few 3 hours after (beyond it: bad records). A driver's events have
// distinct times, so that LATEST has no ties.
func Events(seed uint64, n, drivers int, now time.Time) []Event {
	rnd := rand.New(rand.NewPCG(seed, 7))
	cities := []string{"seattle", "nyc", "sf", "la", "austin"}
	out := make([]Event, n)
	for i := range out {
		e := Event{Driver: int64(i%drivers + 1)}
		var ago time.Duration
		switch r := rnd.IntN(100); {
		case r < 60:
			ago = time.Duration(rnd.Int64N(int64(8 * time.Minute)))
		case r < 85:
			ago = 20*time.Minute + time.Duration(rnd.Int64N(int64(30*time.Minute)))
		case r < 90:
			ago = 72 * time.Hour
		case r < 97:
			ago = -3*time.Minute - time.Duration(rnd.Int64N(int64(2*time.Minute)))
		default:
			ago = -3 * time.Hour
		}
		// Whole milliseconds, distinct per driver.
		e.At = now.Add(-ago).Truncate(time.Second).Add(time.Duration(i) * time.Millisecond)
		if rnd.IntN(8) > 0 {
			x := int32(rnd.IntN(12))
			e.Trips = &x
		}
		if rnd.IntN(6) > 0 {
			c := cities[rnd.IntN(len(cities))]
			e.City = &c
		}
		if rnd.IntN(5) > 0 {
			e.Emb = []float64{float64(rnd.IntN(9)), float64(rnd.IntN(9)) - 4, 0.5}
		}
		out[i] = e
	}
	return out
}

// Reference is the brute-force values of the workload's aggregated
// features per driver.
type Reference struct {
	refs   map[int64][]*window.Reference
	last   map[int64]*int32 // f_trips: the newest event's trips
	lastAt map[int64]time.Time
	skew   time.Duration
}

// NewReference returns the reference of events as feathr processes them
// at wall clock now (so that lateness is judged as feathr judges it):
// an event more than skew (the source's max_future_skew) ahead of now is
// a bad record.
func NewReference(events []Event, now time.Time, skew time.Duration) *Reference {
	r := &Reference{refs: map[int64][]*window.Reference{}, last: map[int64]*int32{}, lastAt: map[int64]time.Time{}, skew: skew}
	fs := Features()
	for _, e := range events {
		if e.At.Sub(now) > skew {
			continue
		}
		refs := r.refs[e.Driver]
		if refs == nil {
			for _, f := range fs {
				refs = append(refs, window.NewReference(f.Spec))
			}
			r.refs[e.Driver] = refs
		}
		for i, f := range fs {
			refs[i].Add(now.UnixMilli(), e.At.UnixMilli(), f.input(e))
		}
		if at, ok := r.lastAt[e.Driver]; e.Trips != nil && (!ok || !e.At.Before(at)) {
			r.last[e.Driver], r.lastAt[e.Driver] = e.Trips, e.At
		}
	}
	return r
}

// Drivers returns the drivers with events, as feathr get's keys.
func (r *Reference) Drivers() []string {
	var out []string
	for d := range r.refs {
		out = append(out, fmt.Sprint(d))
	}
	return out
}

// Values returns the values of Names() for driver at T, as feathr get
// decodes them (nil when null): the aggregated features at T, then
// f_trips, the newest event's.
func (r *Reference) Values(driver int64, T time.Time) []any {
	fs := Features()
	out := make([]any, 0, len(fs)+1)
	for i, f := range fs {
		refs := r.refs[driver]
		if refs == nil {
			out = append(out, nil)
			continue
		}
		v := refs[i].Value(T.UnixMilli())
		if f.Spec.Func == window.Latest && v != nil {
			out = append(out, string(v.([]byte)))
			continue
		}
		out = append(out, window.Output(v, f.Type))
	}
	if t := r.last[driver]; t != nil {
		out = append(out, *t)
	} else {
		out = append(out, nil)
	}
	return out
}
