package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// modelField is a feature's value and event time in timeModel.
type modelField struct {
	value string
	time  int64
}

// timeModel is what event-time ordering means, feature by feature: a
// field is written when the key does not hold it or holds it from an
// event that is not newer (equal times: the later arrival wins).
type timeModel map[string]map[string]modelField // key, feature

func (m timeModel) apply(key string, et int64, fields map[string]string) {
	h := m[key]
	if h == nil {
		h = make(map[string]modelField)
		m[key] = h
	}
	for f, v := range fields {
		if old, ok := h[f]; !ok || et >= old.time {
			h[f] = modelField{v, et}
		}
	}
}

// hashState is what a key holds: its features decoded, and its hidden
// event-time and older-times fields.
type hashState struct {
	features map[string]string
	time     string
	older    map[string]string // nil: no older-times field
}

// readHash reads key's hashState on c.
func readHash(t *testing.T, c redis.Conn, tbl *Table, key string) hashState {
	t.Helper()
	all, err := redis.StringMap(c.Do("HGETALL", key))
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	st := hashState{features: make(map[string]string)}
	st.time = all[tbl.timeField()]
	for f, v := range all {
		switch {
		case f == tbl.olderField():
			// [T, {name: time}], which counts only under the key's T.
			var older [2]json.RawMessage
			var stamp string
			if err := json.Unmarshal([]byte(v), &older); err != nil || json.Unmarshal(older[0], &stamp) != nil {
				t.Fatalf("%s: older-times field %q: %v", key, v, err)
			}
			if stamp == st.time {
				if err := json.Unmarshal(older[1], &st.older); err != nil {
					t.Fatalf("%s: older-times field %q: %v", key, v, err)
				}
			}
		case strings.HasPrefix(f, "__feathr_"):
		default:
			d, err := DecodeValue([]byte(v))
			if err != nil {
				t.Fatalf("%s field %s: %v", key, f, err)
			}
			st.features[f] = fmt.Sprint(d)
		}
	}
	return st
}

// check compares the keys of tbl in Redis with the model: the features'
// values, the newest time in the event-time field, and exactly the
// features older than it, with their times, in the older-times field.
func (m timeModel) check(t *testing.T, c redis.Conn, tbl *Table, step string) {
	t.Helper()
	for key, h := range m {
		got := readHash(t, c, tbl, key)
		want := make(map[string]string)
		newest := int64(-1 << 62)
		for f, mf := range h {
			want[f] = mf.value
			newest = max(newest, mf.time)
		}
		if !maps.Equal(got.features, want) {
			t.Fatalf("%s: %s holds %v, want %v", step, key, got.features, want)
		}
		if got.time != strconv.FormatInt(newest, 10) {
			t.Fatalf("%s: %s event time %q, want %d", step, key, got.time, newest)
		}
		var older map[string]string
		for f, mf := range h {
			if mf.time < newest {
				if older == nil {
					older = make(map[string]string)
				}
				older[f] = strconv.FormatInt(mf.time, 10)
			}
		}
		if !maps.Equal(got.older, older) || (got.older == nil) != (older == nil) {
			t.Fatalf("%s: %s older times %v, want %v", step, key, got.older, older)
		}
	}
}

// TestWriterPerFeatureTime writes random sequences of updates, in and out
// of order, with many equal times, as single updates and as coalesced
// batches, with random feature subsets from sources that write disjoint
// features of one materialization, and compares every key with timeModel
// after each flush.
func TestWriterPerFeatureTime(t *testing.T) {
	e := newEnv(t)
	c := e.conn()
	for _, tc := range []struct {
		name     string
		features []string   // Table.Features
		sources  [][]string // each update brings some features of one
	}{
		{"two sources", []string{"a", "b", "c", "d", "e"}, [][]string{{"a", "b", "c"}, {"d", "e"}}},
		{"two sources, features unknown", nil, [][]string{{"a", "b", "c"}, {"d", "e"}}},
		{"one source, nulls", []string{"a", "b", "c", "d"}, [][]string{{"a", "b", "c", "d"}}},
		{"three sources, one feature each", []string{"x", "y", "z"}, [][]string{{"x"}, {"y"}, {"z"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWriter(t, e, WriterOptions{BatchSize: 1000, FlushInterval: time.Hour, Conns: 2})
			tbl := &Table{Name: "pf" + strconv.Itoa(len(tc.features)) + strconv.Itoa(len(tc.sources)) + strconv.FormatBool(tc.features == nil),
				HiddenTimeField: HiddenTimeField("m"), Features: tc.features}
			keys := []string{Key(tbl.Name, "1"), Key(tbl.Name, "2"), Key(tbl.Name, "3")}
			rng := rand.New(rand.NewPCG(uint64(len(tc.name)), 7))
			model := timeModel{}
			seq := 0
			for round := range 300 {
				n := 1 // a single update, else a coalesced batch
				if rng.IntN(2) == 0 {
					n = 2 + rng.IntN(8)
				}
				for range n {
					seq++
					key := keys[rng.IntN(len(keys))]
					src := tc.sources[rng.IntN(len(tc.sources))]
					// Times drift up, so that keys keep getting newer
					// events as well as older and equal ones.
					et := int64(round/3) + rng.Int64N(12)
					fields := make(map[string]string)
					u := Update{Table: tbl, Key: key, EventTime: et}
					for _, f := range src {
						if rng.IntN(3) > 0 || len(fields) == 0 && f == src[len(src)-1] {
							v := fmt.Sprintf("%s@%d#%d", f, et, seq)
							fields[f] = v
							u.Fields = append(u.Fields, Field{f, val(t, v)})
						}
					}
					model.apply(key, et, fields)
					submit(t, w, u)
				}
				flush(t, w)
				model.check(t, c, tbl, fmt.Sprintf("round %d (%d updates)", round, n))
			}
			if err := w.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriterEventTimeFormats writes into keys that hold what earlier
// versions wrote (a plain time in the event-time field: every feature
// present has that time) and keys with features but no event time (as
// arrival ordering or Feathr's Spark job write them): each feature is
// judged by its own time.
func TestWriterEventTimeFormats(t *testing.T) {
	e := newEnv(t)
	c := e.conn()
	tbl := &Table{Name: "fmt", HiddenTimeField: HiddenTimeField("m"), Features: []string{"a", "b", "c"}}
	type update struct {
		et     int64
		fields []string // name=value
	}
	// plain is what earlier versions wrote: one time for the key.
	plain := []string{"a=old", "b=old", HiddenTimeField("m") + "=15"}
	for i, tc := range []struct {
		name    string
		stored  []string // name=value; the hidden fields too
		updates []update
		want    map[string]string
		time    string
		older   map[string]string
	}{{
		name:    "plain time, a feature the key lacks, older",
		stored:  plain,
		updates: []update{{10, []string{"c=late"}}},
		want:    map[string]string{"a": "old", "b": "old", "c": "late"},
		time:    "15", older: map[string]string{"c": "10"},
	}, {
		name:    "plain time, a feature the key holds, older",
		stored:  plain,
		updates: []update{{10, []string{"a=late"}}},
		want:    map[string]string{"a": "old", "b": "old"},
		time:    "15",
	}, {
		name:    "plain time, newer without every feature",
		stored:  plain,
		updates: []update{{20, []string{"a=new"}}, {17, []string{"b=b17"}}, {16, []string{"c=c16"}}},
		want:    map[string]string{"a": "new", "b": "b17", "c": "c16"},
		time:    "20", older: map[string]string{"b": "17", "c": "16"},
	}, {
		name:    "plain time, equal time",
		stored:  plain,
		updates: []update{{15, []string{"b=equal"}}},
		want:    map[string]string{"a": "old", "b": "equal"},
		time:    "15",
	}, {
		name:    "features without a time",
		stored:  []string{"a=spark", "b=spark"},
		updates: []update{{10, []string{"a=ten"}}, {5, []string{"b=five"}}},
		want:    map[string]string{"a": "ten", "b": "five"},
		time:    "10", older: map[string]string{"b": "5"},
	}, {
		name:    "features without a time, one left",
		stored:  []string{"a=spark", "b=spark"},
		updates: []update{{10, []string{"a=ten"}}},
		want:    map[string]string{"a": "ten", "b": "spark"},
		time:    "10", older: map[string]string{"b": ""},
	}, {
		name:    "every feature newer: the older times go",
		stored:  []string{"a=x", "b=y", HiddenTimeField("m") + "=15", OlderTimesField("m") + `=["15",{"b":"3"}]`},
		updates: []update{{16, []string{"a=new", "b=new"}}},
		want:    map[string]string{"a": "new", "b": "new"},
		time:    "16",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWriter(t, e, WriterOptions{Conns: 1})
			key := Key(tbl.Name, strconv.Itoa(i))
			for _, kv := range tc.stored {
				f, v, _ := strings.Cut(kv, "=")
				if !strings.HasPrefix(f, "__feathr_") {
					v = string(val(t, v))
				}
				e.do("HSET", key, f, v)
			}
			for _, u := range tc.updates {
				up := Update{Table: tbl, Key: key, EventTime: u.et}
				for _, kv := range u.fields {
					f, v, _ := strings.Cut(kv, "=")
					up.Fields = append(up.Fields, Field{f, val(t, v)})
				}
				submit(t, w, up)
				flush(t, w)
			}
			got := readHash(t, c, tbl, key)
			if !maps.Equal(got.features, tc.want) || got.time != tc.time || !maps.Equal(got.older, tc.older) {
				t.Errorf("holds %v, time %q, older %v; want %v, %q, %v", got.features, got.time, got.older, tc.want, tc.time, tc.older)
			}
		})
	}
}

// TestWriterTwoSources: a materialization fed by two sources whose
// event times differ keeps the features of both, each from its newest
// event, the older source's too.
func TestWriterTwoSources(t *testing.T) {
	e := newEnv(t)
	w := newWriter(t, e, WriterOptions{Conns: 1})
	tbl := &Table{Name: "two", HiddenTimeField: HiddenTimeField("m"), Features: []string{"fast", "slow"}}
	k := Key(tbl.Name, "1")
	ctx := context.Background()
	for i := range int64(20) {
		// The fast source is an hour ahead of the slow one.
		if err := w.Submit(ctx, upd(t, tbl, k, 3_600_000+i, nil, 0, "fast", i)); err != nil {
			t.Fatal(err)
		}
		if err := w.Submit(ctx, upd(t, tbl, k, i, nil, 0, "slow", i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			flush(t, w)
		}
	}
	flush(t, w)
	for _, f := range []string{"fast", "slow"} {
		if got := e.value(k, f); got != int64(19) {
			t.Errorf("%s = %v, want 19 (its newest event)", f, got)
		}
	}
	if st := w.Stats(); st.Stale != 0 {
		t.Errorf("stats %+v: want no stale update", st)
	}
}
