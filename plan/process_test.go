package plan

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
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
)

func TestAppendKeyPart(t *testing.T) {
	const (
		b  = feature.KeyBool
		i4 = feature.KeyInt32
		i8 = feature.KeyInt64
		f4 = feature.KeyFloat
		f8 = feature.KeyDouble
		s  = feature.KeyString
		by = feature.KeyBytes
	)
	noon := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    any
		typ  feature.KeyType
		want string
		err  string // a substring of the error; "" for none
	}{
		// null, whatever the type
		{nil, i8, "_null_", ""},
		{nil, s, "_null_", ""},
		{nil, by, "_null_", ""},

		// int64
		{int64(7), i8, "7", ""},
		{int64(-7), i8, "-7", ""},
		{int64(0), i8, "0", ""},
		{int64(math.MaxInt64), i8, "9223372036854775807", ""},
		{int64(math.MinInt64), i8, "-9223372036854775808", ""},
		{int64(math.MaxInt32), i4, "2147483647", ""},
		{int64(math.MinInt32), i4, "-2147483648", ""},
		{int64(math.MaxInt32) + 1, i4, "", "2147483648 overflows INT32"},
		{int64(math.MinInt32) - 1, i4, "", "-2147483649 overflows INT32"},
		{int64(42), s, "42", ""},
		{int64(3), f8, "3.0", ""},
		{int64(3), f4, "3.0", ""},
		{int64(-3), f8, "-3.0", ""},
		{int64(9999999), f8, "9999999.0", ""},
		{int64(10000000), f8, "1.0E7", ""},
		{int64(16777217), f8, "1.6777217E7", ""},
		{int64(16777217), f4, "1.6777216E7", ""}, // as a float, like a float column

		// float64 as a DOUBLE key: as Java's Double.toString
		{1.0, f8, "1.0", ""},
		{0.5, f8, "0.5", ""},
		{-2.5, f8, "-2.5", ""},
		{0.1, f8, "0.1", ""},
		{100.0, f8, "100.0", ""},
		{1234567.0, f8, "1234567.0", ""},
		{9999999.5, f8, "9999999.5", ""},
		{1e7, f8, "1.0E7", ""},
		{1e10, f8, "1.0E10", ""},
		{123456789.0, f8, "1.23456789E8", ""},
		{1e21, f8, "1.0E21", ""},
		{1e300, f8, "1.0E300", ""},
		{0.001, f8, "0.001", ""},
		{0.0001, f8, "1.0E-4", ""},
		{1e-5, f8, "1.0E-5", ""},
		{1.5e-5, f8, "1.5E-5", ""},
		{-1e-5, f8, "-1.0E-5", ""},
		{0.0, f8, "0.0", ""},
		{math.Copysign(0, -1), f8, "-0.0", ""},
		{math.NaN(), f8, "NaN", ""},
		{math.Inf(1), f8, "Infinity", ""},
		{math.Inf(-1), f8, "-Infinity", ""},
		{1.0, s, "1.0", ""},

		// float64 as a FLOAT key: rounded to float32, printed as Java's Float.toString
		{0.1, f4, "0.1", ""},
		{1.1, f4, "1.1", ""},
		{0.5, f4, "0.5", ""},
		{1e10, f4, "1.0E10", ""},
		{1e-5, f4, "1.0E-5", ""},
		{16777217.0, f4, "1.6777216E7", ""},
		{3.4e38, f4, "3.4E38", ""},
		{1e39, f4, "Infinity", ""},
		{math.NaN(), f4, "NaN", ""},

		// float64 as an integer key (a field of unknown type)
		{7.0, i8, "7", ""},
		{-7.9, i8, "-7", ""},
		{3e9, i8, "3000000000", ""},
		{3e9, i4, "", "overflows INT32"},
		{-3e9, i4, "", "overflows INT32"},
		{1e19, i8, "", "is not an integer key"},
		{math.NaN(), i8, "", "NaN is not an integer key"},
		{math.Inf(1), i4, "", "+Inf is not an integer key"},

		// bool
		{true, b, "true", ""},
		{false, b, "false", ""},
		{true, s, "true", ""},

		// string
		{"Seattle", s, "Seattle", ""},
		{"", s, "", ""},
		{"a#b:c", s, "a#b:c", ""},
		{"héllo", s, "héllo", ""},
		{"42", i8, "42", ""},
		{"-42", i4, "-42", ""},
		{"007", i8, "7", ""},
		{"x", i8, "", `"x" is not an integer`},
		{"1.5", i4, "", `"1.5" is not an integer`},
		{"", i8, "", `"" is not an integer`},
		{"3000000000", i4, "", "3000000000 overflows INT32"},
		{"3000000000", i8, "3000000000", ""},
		{"abc", by, "abc", ""},

		// []byte
		{[]byte("raw\x00bytes"), by, "raw\x00bytes", ""},
		{[]byte{}, by, "", ""},

		// time.Time: as Spark casts a timestamp to a string, in UTC; epoch
		// milliseconds for an INT64 key
		{noon, s, "2026-11-26 12:00:00", ""},
		{noon.Add(123 * time.Millisecond), s, "2026-11-26 12:00:00.123", ""},
		{noon.Add(120 * time.Microsecond), s, "2026-11-26 12:00:00.00012", ""},
		{noon.In(time.FixedZone("UTC-8", -8*3600)), s, "2026-11-26 12:00:00", ""},
		{noon, i8, "1795694400000", ""},

		// types a decoder never produces
		{int32(7), i4, "", "a int32 cannot be a key"},
		{[]any{int64(1)}, s, "", "a []interface {} cannot be a key"},
		{map[string]any{}, s, "", "cannot be a key"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T(%v)/%v", tt.v, tt.v, tt.typ), func(t *testing.T) {
			const prefix = "table:"
			got, err := AppendKeyPart([]byte(prefix), tt.v, tt.typ)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("AppendKeyPart(%#v, %v) error = %v, want one containing %q", tt.v, tt.typ, err, tt.err)
				}
				if string(got) != prefix {
					t.Errorf("on error, dst = %q, want it unchanged (%q)", got, prefix)
				}
				return
			}
			if err != nil {
				t.Fatalf("AppendKeyPart(%#v, %v): %v", tt.v, tt.typ, err)
			}
			if string(got) != prefix+tt.want {
				t.Errorf("AppendKeyPart(%#v, %v) = %q, want %q", tt.v, tt.typ, got[len(prefix):], tt.want)
			}
		})
	}
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

// processSource compiles processYAML and returns its one source.
func processSource(t *testing.T) *Source {
	t.Helper()
	p, errs := compileErrs(t, processYAML, Options{})
	if len(errs) > 0 {
		t.Fatalf("problems:\n%v", errs)
	}
	if len(p.Sources) != 1 || len(p.Sources[0].Targets) != 3 {
		t.Fatalf("plan has %d sources, want 1 with 3 targets", len(p.Sources))
	}
	return p.Sources[0]
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

func TestProcess(t *testing.T) {
	src := processSource(t)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	kafkaTime := at.Add(time.Hour)
	atMs, kafkaMs := at.UnixMilli(), kafkaTime.UnixMilli()

	tests := []struct {
		name string
		rec  record.Record
		want []wantUpdate
		errs []string // TargetError messages, in target order
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
			out, errs := src.Process(tt.rec, kafkaTime, prefix)
			if len(out) == 0 || out[0].Key != "already:there" {
				t.Fatalf("Process did not append to dst")
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
				if e.Target == nil || !strings.HasPrefix(tt.errs[i], "materialization "+e.Target.Materialization.Config.Name+":") {
					t.Errorf("error %d names target %v", i, e.Target)
				}
				if e.Unwrap() == nil || !errors.Is(e, e.Err) {
					t.Errorf("error %d does not wrap its cause", i)
				}
			}
		})
	}
}

// TestProcessFeatureErrorNamesFeature checks the TargetError of a failing
// transform in detail.
// TestProcessUpdatesAreIndependent keeps the updates of many records,
// processed from several goroutines, and checks them only afterwards:
// updates cut from shared memory must not overlap.
func TestProcessUpdatesAreIndependent(t *testing.T) {
	src := processSource(t)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const goroutines, records = 4, 3000
	got := make([][]sink.Update, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range records {
				id := int64(g*records + i)
				r := record.Record{"driver_id": id, "city": strings.Repeat("c", i%40), "n": id, "big": id, "ts": at}
				us, errs := src.Process(r, at, nil)
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

func TestProcessFeatureErrorNamesFeature(t *testing.T) {
	src := processSource(t)
	_, errs := src.Process(record.Record{"driver_id": int64(1), "city": "x", "n": int64(1), "big": int64(math.MaxInt64 / 10)}, time.Now(), nil)
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want 1", errs)
	}
	e := errs[0]
	if e.Feature != "f_big" || e.Target.Materialization.Config.Name != "single" || e.Target.Materialization.Table.Name != "st" {
		t.Errorf("error names feature %q of %q", e.Feature, e.Target.Materialization.Config.Name)
	}
	if !strings.Contains(e.Error(), "overflow") {
		t.Errorf("error = %q, want it to say overflow", e)
	}
}

func TestEventTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	kafka := at.Add(-time.Minute)
	tests := []struct {
		name  string
		field string
		rec   record.Record
		want  time.Time
	}{
		{"no timestamp field", "", record.Record{"ts": at}, kafka},
		{"timestamp", "ts", record.Record{"ts": at}, at},
		{"epoch milliseconds", "ts", record.Record{"ts": at.UnixMilli()}, time.UnixMilli(at.UnixMilli())},
		{"null", "ts", record.Record{"ts": nil}, kafka},
		{"missing", "ts", record.Record{}, kafka},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Source{TimeField: tt.field}
			if got := s.EventTime(tt.rec, kafka); !got.Equal(tt.want) {
				t.Errorf("EventTime = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProcessEventTimeFromLongField compiles a source whose timestamp is a
// long of epoch milliseconds.
func TestProcessEventTimeFromLongField(t *testing.T) {
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
	p, errs := compileErrs(t, src, Options{})
	if len(errs) > 0 {
		t.Fatalf("problems:\n%v", errs)
	}
	out, terrs := p.Sources[0].Process(record.Record{"id": "a", "at": int64(1_700_000_000_123)}, time.Unix(1, 0), nil)
	if len(terrs) > 0 || len(out) != 1 {
		t.Fatalf("Process = %v, %v", out, terrs)
	}
	if out[0].Key != "t:a" || out[0].EventTime != 1_700_000_000_123 {
		t.Errorf("update %s at %d, want t:a at 1700000000123", out[0].Key, out[0].EventTime)
	}
}

// TestTargetErrorMessages checks both forms of TargetError.Error.
func TestTargetErrorMessages(t *testing.T) {
	tg := &Target{Materialization: &Materialization{Config: &config.Materialization{Name: "m"}}}
	cause := errors.New("boom")
	if got := (&TargetError{Target: tg, Feature: "f", Err: cause}).Error(); got != "materialization m: feature f: boom" {
		t.Errorf("feature error = %q", got)
	}
	if got := (&TargetError{Target: tg, Err: cause}).Error(); got != "materialization m: key: boom" {
		t.Errorf("key error = %q", got)
	}
}
