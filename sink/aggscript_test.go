package sink

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/window"
)

// aggEnv is a private Redis with one connection on which the
// aggregation script is loaded.
type aggEnv struct {
	t    testing.TB
	srv  *testenv.RedisServer
	c    redis.Conn
	runs int // benchmarks: runs so far, for names of their own
}

func newAggEnv(t testing.TB) *aggEnv {
	srv := testenv.StartRedis(t)
	c, err := redis.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := aggScript().Load(c); err != nil {
		t.Fatal(err)
	}
	return &aggEnv{t: t, srv: srv, c: c}
}

func (e *aggEnv) do(cmd string, args ...any) any {
	e.t.Helper()
	r, err := e.c.Do(cmd, args...)
	if err != nil {
		e.t.Fatalf("%s %q: %v", cmd, args, err)
	}
	return r
}

// apply runs one call of the script for keys at now, K's TTL ttl.
func (e *aggEnv) apply(am *aggMaterialization, now, ttl int64, keys []aggKeyEvents) []AggResult {
	e.t.Helper()
	if err := am.sendApply(e.c, refreshIndexKey(am.name), now, ttl, keys); err != nil {
		e.t.Fatal(err)
	}
	if err := e.c.Flush(); err != nil {
		e.t.Fatal(err)
	}
	out := make([]AggResult, len(keys))
	if err := receiveApply(e.c, out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *aggEnv) refresh(am *aggMaterialization, now int64, keys ...string) {
	e.t.Helper()
	if err := am.sendRefresh(e.c, refreshIndexKey(am.name), now, keys); err != nil {
		e.t.Fatal(err)
	}
	if err := e.c.Flush(); err != nil {
		e.t.Fatal(err)
	}
	if err := receiveRefresh(e.c); err != nil {
		e.t.Fatal(err)
	}
}

// read computes key's aggregated features at T from its state, in Go.
func (e *aggEnv) read(am *aggMaterialization, key string, T int64) []any {
	e.t.Helper()
	if err := am.sendRead(e.c, key, T); err != nil {
		e.t.Fatal(err)
	}
	if err := e.c.Flush(); err != nil {
		e.t.Fatal(err)
	}
	out := make([]any, len(am.features))
	if err := am.receiveRead(e.c, T, out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// stored returns the raw stored fields of key's aggregated features, nil
// where absent.
func (e *aggEnv) stored(am *aggMaterialization, key string) [][]byte {
	e.t.Helper()
	args := []any{key}
	for _, f := range am.features {
		args = append(args, f.Name)
	}
	r, err := redis.ByteSlices(e.c.Do("HMGET", args...))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// storedValues decodes stored's fields with DecodeValue.
func (e *aggEnv) storedValues(am *aggMaterialization, key string) []any {
	e.t.Helper()
	raw := e.stored(am, key)
	out := make([]any, len(raw))
	for i, b := range raw {
		if b == nil {
			continue
		}
		v, err := DecodeValue(b)
		if err != nil {
			e.t.Fatalf("%s %s: %q: %v", key, am.features[i].Name, b, err)
		}
		out[i] = v
	}
	return out
}

func mustAgg(t testing.TB, m string, fs ...AggFeature) *aggMaterialization {
	t.Helper()
	am, err := newAggMaterialization(m, fs)
	if err != nil {
		t.Fatal(err)
	}
	return am
}

func spec(f window.Func, w, h, l time.Duration) window.Spec {
	return window.Spec{Func: f, Window: w, Hop: h, Lateness: l}
}

// sameFeature reports whether two feature values are equal: of the same
// Go type, floats bit for bit or both NaN.
func sameFeature(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() {
		return false
	}
	if va.Kind() == reflect.Slice && va.Type().Elem().Kind() != reflect.Uint8 {
		if va.Len() != vb.Len() {
			return false
		}
		for i := range va.Len() {
			if !sameFeature(va.Index(i).Interface(), vb.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	switch x := a.(type) {
	case float64:
		y := b.(float64)
		return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y
	case float32:
		y := b.(float32)
		return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
	}
	return reflect.DeepEqual(a, b)
}

// luaNaN is the NaN Redis's Lua parses "nan" to; Go's math.NaN() has
// another payload.
var luaNaN = math.Float64frombits(0x7ff8000000000000)

// TestAggEncoding: the FeatureValue the script writes for a value (the
// MAX of one event, so the value is the input) equals AppendValue's of
// window.Output of it, byte for byte, for every scalar and vector type;
// a value that does not fit the type is no field, and the Go read agrees.
func TestAggEncoding(t *testing.T) {
	e := newAggEnv(t)
	scalars := []feature.Type{feature.Int32, feature.Int64, feature.Float, feature.Double}
	vectors := []feature.Type{feature.FloatVector, feature.DoubleVector, feature.Int32Vector, feature.Int64Vector}
	w := spec(window.Max, 10*time.Second, time.Second, time.Second)
	var sf, vf []AggFeature
	for _, ty := range scalars {
		sf = append(sf, AggFeature{"f_" + ty.String(), w, ty})
	}
	w.Func = window.MaxPooling
	for _, ty := range vectors {
		vf = append(vf, AggFeature{"f_" + ty.String(), w, ty})
	}
	sm, vm := mustAgg(t, "enc", sf...), mustAgg(t, "encv", vf...)
	values := []float64{0, math.Copysign(0, -1), 1, -1, 2.5, -2.5, 0.1, -0.9, 63, 64, 127, 128, -127, -128, 300, -300,
		1 << 14, 1<<21 - 1, 1 << 28, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, -math.MaxInt32,
		1 << 31, 1 << 35, -(1 << 35), 1 << 53, -(1 << 53), 1 << 62, -(1 << 62), 9223372036854774784, -9223372036854775808,
		1 << 63, -(1 << 63) * 2, 1e15 + 0.5, 123456789.123, math.MaxFloat32, -math.MaxFloat32, math.MaxFloat32 * 1.0000001,
		1e39, 1e300, -1e300, 5e-324, 1e-40, 1.17549435e-38, math.SmallestNonzeroFloat32, math.Inf(1), math.Inf(-1), luaNaN,
		16777217, 0.3333333333333333}
	const now = 1_700_000_000_000
	var keys []aggKeyEvents
	for i, v := range values {
		in := window.Input{Kind: window.InputValue, Num: v}
		keys = append(keys, aggKeyEvents{fmt.Sprintf("enc:%d", i), []AggEvent{{Topic: "t", Offset: 1, Time: now, Inputs: []window.Input{in, in, in, in}}}})
	}
	e.apply(sm, now, 0, keys)
	vecs := [][]float64{{}, {0}, {1.5, -2.5, 3}, {-1, 1 << 40, -(1 << 40)}, {math.MaxInt32, math.MinInt32}, {math.MaxInt32 + 1, 0},
		{math.MaxFloat32, 1e39}, {luaNaN, 1}, {math.Inf(1), -0.0}, {0.1, 0.2, 0.3, 1e-40}, values[:20]}
	var vkeys []aggKeyEvents
	for i, v := range vecs {
		in := window.Input{Kind: window.InputValue, Vec: v}
		vkeys = append(vkeys, aggKeyEvents{fmt.Sprintf("encv:%d", i), []AggEvent{{Topic: "t", Offset: 1, Time: now, Inputs: []window.Input{in, in, in, in}}}})
	}
	e.apply(vm, now, 0, vkeys)
	check := func(am *aggMaterialization, key string, v any) {
		t.Helper()
		raw := e.stored(am, key)
		goRead := e.read(am, key, now)
		for i, f := range am.features {
			want := window.Output(v, f.Type)
			if want == nil {
				if raw[i] != nil || goRead[i] != nil {
					t.Errorf("%v as %v: stored %q, Go %v; want none", v, f.Type, raw[i], goRead[i])
				}
				continue
			}
			wb, err := AppendValue(nil, want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw[i], wb) {
				t.Errorf("%v as %v: stored %q, want %q (AppendValue of %#v)", v, f.Type, raw[i], wb, want)
			}
			if !sameFeature(goRead[i], want) {
				t.Errorf("%v as %v: Go read %#v, want %#v", v, f.Type, goRead[i], want)
			}
		}
	}
	for i, v := range values {
		check(sm, keys[i].key, v)
	}
	for i, v := range vecs {
		check(vm, vkeys[i].key, v)
	}
}

func TestAggMaterializationErrors(t *testing.T) {
	ok := spec(window.Sum, time.Minute, 10*time.Second, 0)
	for _, tc := range []struct {
		m    string
		fs   []AggFeature
		want string
	}{
		{"m\x00", []AggFeature{{"f", ok, feature.Int64}}, "NUL"},
		{"m", nil, "no aggregated features"},
		{"m", []AggFeature{{"f", ok, feature.Int64}, {"f", ok, feature.Int64}}, "repeated"},
		{"m", []AggFeature{{"f", spec(window.Sum, time.Minute, 7*time.Second, 0), feature.Int64}}, "not a multiple"},
		{"m", []AggFeature{{"f", spec(window.Avg, time.Minute, time.Second, 0), feature.Int32}}, "AVG cannot be stored as INT32"},
	} {
		if _, err := newAggMaterialization(tc.m, tc.fs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: %v, want %q", tc.m, tc.fs, err, tc.want)
		}
	}
	am := mustAgg(t, "m", AggFeature{"f", ok, feature.Int64}, AggFeature{"l", spec(window.Latest, time.Minute, time.Second, 0), feature.Int64})
	for _, ev := range []AggEvent{
		{Inputs: []window.Input{{}}},
		{Inputs: []window.Input{{}, {Kind: window.InputValue}}},
		{Inputs: []window.Input{{Kind: 9}, {}}},
	} {
		if _, _, err := am.appendApplyArgs(nil, nil, "i", 0, 0, []aggKeyEvents{{"k", []AggEvent{ev}}}); err == nil {
			t.Errorf("%+v: no error", ev)
		}
	}
}

// TestAggEdges: an event exactly at now − window − lateness is late, one
// a millisecond later is not; a tile that ends exactly there is dropped;
// a quiet key's state and HyperLogLogs expire within window + lateness +
// hop; an empty window removes the field, by a write or a refresh.
func TestAggEdges(t *testing.T) {
	e := newAggEnv(t)
	s := spec(window.Count, 10*time.Second, time.Second, 2*time.Second)
	cd := s
	cd.Func = window.CountDistinct
	am := mustAgg(t, "edges", AggFeature{"n", s, feature.Int64}, AggFeature{"u", cd, feature.Int64})
	const N = 1_700_000_020_000 // now; the horizon N − 12s is a multiple of the hop
	horizon := int64(N - 12000)
	k := Key("edges", "1")
	S := stateKey(k, am.name)
	in := func(h uint64) []window.Input {
		return []window.Input{{Kind: window.InputValue}, {Kind: window.InputValue, Hash: h}}
	}
	// At N − 5s, an event just before the future horizon: its tile ends
	// at the horizon.
	r := e.apply(am, N-5000, 60000, []aggKeyEvents{{k, []AggEvent{{Topic: "t", Offset: 1, Time: horizon - 1, Inputs: in(1)}}}})
	if r[0] != (AggResult{Applied: 1}) {
		t.Fatalf("first write: %+v", r[0])
	}
	if ttl, _ := redis.Int64(e.do("PTTL", k), nil); ttl <= 0 || ttl > 60000 {
		t.Errorf("K's PTTL %d, want in (0, 60000]", ttl)
	}
	r = e.apply(am, N, 0, []aggKeyEvents{{k, []AggEvent{
		{Topic: "t", Offset: 2, Time: horizon, Inputs: in(2)},
		{Topic: "t", Offset: 3, Time: horizon + 1, Inputs: in(3)}, // kept, but before the window
		{Topic: "t", Offset: 4, Time: N, Inputs: in(4)},
	}}})
	if r[0] != (AggResult{Applied: 3, Late: 2}) {
		t.Fatalf("at the horizon: %+v, want 3 applied, 2 late rows", r[0])
	}
	for _, f := range []string{"t:n", "t:u"} {
		raw, _ := redis.Bytes(e.do("HGET", S, f), nil)
		fn := window.Count
		if f == "t:u" {
			fn = window.CountDistinct
		} else {
			c, _ := redis.Bytes(e.do("HGET", S, "c:n"), nil)
			raw = stateTiles(raw, c)
		}
		tiles, err := window.DecodeTiles(nil, fn, raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(tiles) != 2 || tiles[0].B != horizon/1000 || tiles[1].B != N/1000 {
			t.Errorf("%s: tiles %+v, want tiles %d and %d (the one ending at the horizon dropped)", f, tiles, horizon/1000, N/1000)
		}
	}
	if n, _ := redis.Int(e.do("HEXISTS", S, "c:n"), nil); n != 1 {
		t.Error("no cache c:n: the next event in the current tile cannot take the fast path")
	}
	if got := e.storedValues(am, k); !sameFeature(got[0], int64(1)) || !sameFeature(got[1], int64(1)) {
		t.Errorf("stored %v, want [1 1]", got)
	}
	// TTLs of a quiet key: S and the HyperLogLogs live at most window +
	// lateness + hop.
	const bound = 10000 + 2000 + 1000
	for _, key := range []string{S, S + ":d:u:" + fmt.Sprint(horizon/1000), S + ":d:u:" + fmt.Sprint(N/1000)} {
		if ttl, _ := redis.Int64(e.do("PTTL", key), nil); ttl <= 0 || ttl > bound {
			t.Errorf("PTTL %q = %d, want in (0, %d]", key, ttl, bound)
		}
	}
	// The tile of the event at N leaves the window at its end + 10s.
	leave := int64(N + 1000 + 10000)
	if d, _ := redis.Int64(e.do("ZSCORE", refreshIndexKey(am.name), k), nil); d != leave {
		t.Errorf("refresh score %d, want %d", d, leave)
	}
	e.refresh(am, leave-1, k)
	if got := e.storedValues(am, k); !sameFeature(got[0], int64(1)) {
		t.Errorf("refreshed before the tile leaves: %v", got)
	}
	e.refresh(am, leave, k)
	if n, _ := redis.Int(e.do("HLEN", k), nil); n != 0 {
		t.Errorf("refreshed when the window is empty: %d fields left", n)
	}
	if _, err := redis.Int64(e.c.Do("ZSCORE", refreshIndexKey(am.name), k)); err != redis.ErrNil {
		t.Errorf("still in the refresh index: %v", err)
	}
	if n, _ := redis.Int(e.do("HEXISTS", S, "d"), nil); n != 0 {
		t.Errorf("S keeps d after the last tile left")
	}
	// A write whose window is empty removes the fields too.
	k2 := Key("edges", "2")
	e.apply(am, N, 0, []aggKeyEvents{{k2, []AggEvent{{Topic: "t", Offset: 1, Time: N, Inputs: in(1)}}}})
	r = e.apply(am, N+11000, 0, []aggKeyEvents{{k2, []AggEvent{{Topic: "t", Offset: 2, Time: N + 11000, Inputs: make([]window.Input, 2)}}}})
	if r[0] != (AggResult{Applied: 1}) {
		t.Fatalf("filtered-out event: %+v", r[0])
	}
	if n, _ := redis.Int(e.do("HLEN", k2), nil); n != 0 {
		t.Errorf("write of an empty window: %d fields left", n)
	}
	// Refreshing a key whose state is gone removes its fields.
	k3 := Key("edges", "3")
	e.do("HSET", k3, "n", "KAM=", "other", "x")
	e.do("ZADD", refreshIndexKey(am.name), 1, k3)
	e.refresh(am, N, k3)
	if m, _ := redis.StringMap(e.do("HGETALL", k3), nil); len(m) != 1 || m["other"] != "x" {
		t.Errorf("refresh without state left %q", m)
	}
	if _, err := redis.Int64(e.c.Do("ZSCORE", refreshIndexKey(am.name), k3)); err != redis.ErrNil {
		t.Errorf("a key without state stays in the refresh index: %v", err)
	}
}

// TestAggCluster runs the script on a Redis Cluster: for keys with a hash
// tag, without one, with a '}' but no tag (S in the slot-tag form), and
// two keys of one slot in one call, the state, the HyperLogLogs (keys the
// script does not declare) and the index shard stay in the key's slot.
func TestAggCluster(t *testing.T) {
	rc := testenv.StartRedisCluster(t, 3)
	owners := rc.Owners()
	conns := map[string]redis.Conn{}
	for _, a := range rc.Addrs() {
		c, err := redis.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := aggScript().Load(c); err != nil {
			t.Fatal(err)
		}
		conns[a] = c
	}
	s := spec(window.Count, time.Minute, 10*time.Second, 10*time.Second)
	cd := s
	cd.Func = window.CountDistinct
	am := mustAgg(t, "mc", AggFeature{"n", s, feature.Int64}, AggFeature{"u", cd, feature.Int32})
	const now = 1_700_000_000_000
	ev := func(off int64, h uint64) AggEvent {
		return AggEvent{Topic: "t", Offset: off, Time: now - off*1000,
			Inputs: []window.Input{{Kind: window.InputValue}, {Kind: window.InputValue, Hash: h}}}
	}
	calls := [][]string{{"tc:1"}, {"tc:a}b"}, {"tc:}{"}, {"tc:{u}1", "tc:{u}2"}, {"{x}"}}
	for _, keys := range calls {
		slot := redisc.Slot(keys[0])
		c := conns[owners[slot]]
		var batch []aggKeyEvents
		for _, k := range keys {
			batch = append(batch, aggKeyEvents{k, []AggEvent{ev(1, 1), ev(2, 2), ev(3, 1)}})
		}
		if err := am.sendApply(c, clusterRefreshIndexKey(am.name, slot), now, 0, batch); err != nil {
			t.Fatal(err)
		}
		c.Flush()
		res := make([]AggResult, len(keys))
		if err := receiveApply(c, res); err != nil {
			t.Fatalf("%q: %v", keys, err)
		}
		for i, k := range keys {
			if res[i] != (AggResult{Applied: 3}) {
				t.Errorf("%s: %+v", k, res[i])
			}
			vals, err := redis.ByteSlices(c.Do("HMGET", k, "n", "u"))
			if err != nil {
				t.Fatal(err)
			}
			if string(vals[0]) != "MAM=" || string(vals[1]) != "KAI=" { // INT64 3, INT32 2
				t.Errorf("%s: stored %q", k, vals)
			}
			if err := am.sendRead(c, k, now); err != nil {
				t.Fatal(err)
			}
			c.Flush()
			out := make([]any, 2)
			if err := am.receiveRead(c, now, out); err != nil {
				t.Fatalf("%s: read: %v", k, err)
			}
			if !sameFeature(out[0], int64(3)) || !sameFeature(out[1], int32(2)) {
				t.Errorf("%s: read %v", k, out)
			}
			if n, _ := redis.Int(c.Do("ZCARD", clusterRefreshIndexKey(am.name, slot))); n != len(keys) {
				t.Errorf("%s: index shard of slot %d has %d keys", k, slot, n)
			}
		}
		if err := am.sendRefresh(c, clusterRefreshIndexKey(am.name, slot), now+3*60000, keys); err != nil {
			t.Fatal(err)
		}
		c.Flush()
		if err := receiveRefresh(c); err != nil {
			t.Fatalf("%q: refresh: %v", keys, err)
		}
		if n, _ := redis.Int(c.Do("EXISTS", keys[0])); n != 0 {
			t.Errorf("%s: fields left after the window emptied", keys[0])
		}
	}
}
