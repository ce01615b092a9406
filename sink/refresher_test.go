package sink

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// checkRefresher writes a COUNT over 3s of keys, then waits for the
// refresher to lower the stored counts as events leave the window, and
// to remove them once it is empty.
func checkRefresher(t *testing.T, st *Store) {
	tbl, err := NewTable("m", config.RedisSink{Table: "r"}, nil,
		AggFeature{"f_count", spec(window.Count, 3*time.Second, time.Second, 0), feature.Int64})
	if err != nil {
		t.Fatal(err)
	}
	w := st.NewWriter(WriterOptions{Logger: slog.New(slog.DiscardHandler)})
	defer w.Close()
	var keys []string
	now := time.Now().UnixMilli()
	var us []Update
	for i := range 30 {
		k := fmt.Sprint(i)
		keys = append(keys, k)
		for j := range 2 {
			// One event now, one a second ago: the count drops to 1 a
			// second before the key empties.
			us = append(us, Update{Table: tbl, Key: Key("r", k), EventTime: now, Agg: &AggEvent{
				Topic: "t", Partition: 0, Offset: int64(2*i + j), Time: now - int64(j)*1000,
				Inputs: []window.Input{{Kind: window.InputValue}},
			}})
		}
	}
	submitAll(t, w, us)
	r := st.StartRefresher([]*Table{tbl}, RefresherOptions{Interval: 50 * time.Millisecond})
	defer r.Close()
	read := func() []any {
		got, err := st.NewReader().Get(context.Background(), "r", keys, []string{"f_count"})
		if err != nil {
			t.Fatal(err)
		}
		var out []any
		for _, row := range got {
			out = append(out, row[0])
		}
		return out
	}
	seen := map[any]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		vals := read()
		for _, v := range vals {
			seen[v] = true
		}
		if seen[int64(1)] && vals[0] == nil && vals[len(vals)-1] == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !seen[int64(2)] || !seen[int64(1)] || !seen[nil] {
		t.Errorf("stored counts seen %v; want 2, then 1, then none", seen)
	}
	for _, v := range read() {
		if v != nil {
			t.Fatalf("stored counts %v after the window", read())
		}
	}
	if s := r.Stats(); s.Refreshed < int64(len(keys)) || s.Polls == 0 {
		t.Errorf("refresher stats %+v", s)
	}
}

func TestRefresher(t *testing.T) { checkRefresher(t, newEnv(t).store) }

func TestClusterRefresher(t *testing.T) { checkRefresher(t, newClusterEnv(t).store) }
