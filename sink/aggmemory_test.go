package sink

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// TestAggMemory measures, with MEMORY USAGE, the Redis memory one entity
// key's state costs per aggregated feature when every tile of the window
// holds events (the most a key can cost), and logs it: the README's
// table. It checks only that the state stays within a bound per tile.
func TestAggMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	e := newEnv(t)
	m, h := time.Minute, time.Hour
	cases := []struct {
		f       AggFeature
		input   func(i int) window.Input
		perTile int // the bound, bytes per tile
	}{
		{AggFeature{"f_count_10m", spec(window.Count, 10*m, m, m), feature.Int64}, nil, 80},
		{AggFeature{"f_sum_1h", spec(window.Sum, h, 5*m, 5*m), feature.Int64}, nil, 80},
		{AggFeature{"f_avg_1d", spec(window.Avg, window.Day, h, h), feature.Double}, nil, 80},
		{AggFeature{"f_avg_1d_hop_2h", spec(window.Avg, window.Day, 2*h, 2*h), feature.Double}, nil, 80},
		{AggFeature{"f_max_1h", spec(window.Max, h, 5*m, 5*m), feature.Double}, nil, 80},
		{AggFeature{"f_latest_1h", spec(window.Latest, h, 5*m, 5*m), feature.String}, func(i int) window.Input {
			v, _ := AppendValue(nil, fmt.Sprintf("city-%03d", i%100))
			return window.Input{Kind: window.InputValue, Value: v}
		}, 100},
		{AggFeature{"f_maxp8_1h", spec(window.MaxPooling, h, 5*m, 5*m), feature.DoubleVector}, func(i int) window.Input {
			return window.Input{Kind: window.InputValue, Vec: []float64{1, 2, 3, 4, 5, 6, 7, float64(i)}}
		}, 150},
		{AggFeature{"f_distinct_1h", spec(window.CountDistinct, h, 5*m, 5*m), feature.Int64}, func(i int) window.Input {
			return window.Input{Kind: window.InputValue, Hash: uint64(i%100) * 0x9e3779b97f4a7c15}
		}, 400},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-18s %6s %8s %10s %8s\n", "feature", "tiles", "state B", "HLL keys B", "B/tile")
	for _, c := range cases {
		tbl, err := NewTable("m", config.RedisSink{Table: "mem"}, nil, c.f)
		if err != nil {
			t.Fatal(err)
		}
		w := e.store.NewWriter(WriterOptions{})
		now := time.Now().UnixMilli()
		sp := c.f.Spec
		tiles := int(sp.Window / sp.Hop)
		var us []Update
		const perTile = 20
		for i := range tiles * perTile {
			in := window.Input{Kind: window.InputValue, Num: float64(i)}
			if c.input != nil {
				in = c.input(i)
			}
			at := now - sp.Window.Milliseconds() + sp.Hop.Milliseconds() + int64(i/perTile)*sp.Hop.Milliseconds() + int64(i%perTile)
			us = append(us, Update{Table: tbl, Key: Key("mem", c.f.Name), EventTime: at,
				Agg: &AggEvent{Topic: "trips", Partition: 0, Offset: int64(i), Time: min(at, now), Inputs: []window.Input{in}}})
		}
		submitAll(t, w, us)
		w.Close()
		K := Key("mem", c.f.Name)
		S := stateKey(K, "m")
		state, err := redis.Int(e.do("MEMORY", "USAGE", S, "SAMPLES", 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		other := 0
		if sp.Func == window.CountDistinct {
			keys, _ := redis.Strings(e.do("KEYS", S+":d:*"), nil)
			for _, k := range keys {
				n, _ := redis.Int(e.do("MEMORY", "USAGE", k, "SAMPLES", 0), nil)
				other += n
			}
		}
		got := (state + other) / (tiles + 1)
		fmt.Fprintf(&report, "%-18s %6d %8d %10d %8d\n", c.f.Name, tiles+1, state, other, got)
		if got > c.perTile {
			t.Errorf("%s: %d bytes per tile, want at most %d", c.f.Name, got, c.perTile)
		}
	}
	t.Log(report.String())
}
