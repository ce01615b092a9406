package sink

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// distinctBound is the documented error bound of COUNT_DISTINCT (a Redis
// HyperLogLog, standard error 0.81%): max(1, 3%) of the exact count.
func distinctBound(exact float64) float64 { return max(1, 0.03*exact) }

// propCase is one function with the declared types of its features: each
// event gives every feature the same value (encoded by type for LATEST).
type propCase struct {
	f     window.Func
	types []feature.Type
}

var propCases = []propCase{
	{window.Count, []feature.Type{feature.Int64, feature.Int32, feature.Float, feature.Double}},
	{window.Sum, []feature.Type{feature.Int64, feature.Double, feature.Float, feature.Int32}},
	{window.Avg, []feature.Type{feature.Double, feature.Float}},
	{window.Min, []feature.Type{feature.Int32, feature.Double}},
	{window.Max, []feature.Type{feature.Int64, feature.Float}},
	{window.Latest, []feature.Type{feature.Int64, feature.String, feature.DoubleVector}},
	{window.MaxPooling, []feature.Type{feature.FloatVector, feature.Int64Vector}},
	{window.MinPooling, []feature.Type{feature.DoubleVector, feature.Int32Vector}},
	{window.AvgPooling, []feature.Type{feature.DoubleVector, feature.FloatVector}},
	{window.CountDistinct, []feature.Type{feature.Int64, feature.Double}},
}

// propSpecs are the windows the cases run with, one per seed.
var propSpecs = [][3]time.Duration{
	{10 * time.Second, time.Second, time.Second},
	{20 * time.Second, 5 * time.Second, 0},
	{6 * time.Second, 2 * time.Second, 6 * time.Second},
}

// propEvent is an event as the test sends it, with its key.
type propEvent struct {
	key    string
	ev     AggEvent
	replay bool // a copy of an event sent in an earlier call
}

// propKey is the test's knowledge of one entity key.
type propKey struct {
	refs    []*window.Reference // per feature
	lastNow int64               // the wall clock of its last write
	written time.Time           // the real time of its last write, for S's TTL
	tiles   map[int64]bool      // per feature hop: tiles of aggregated events, for d
}

// TestAggProperty sends, for every function, random events (out of
// order, null, filtered out, late, in the future, from several
// partitions, with equal times, vectors of another length) through the
// script in random batches, with replays of earlier offsets, and checks
// after each call that the stored fields (decoded with DecodeValue), the
// Go read of the state at several read times and the brute-force
// reference agree, exactly but for COUNT_DISTINCT (within
// distinctBound); that replays change nothing; that the script's counts
// are the reference's; that the refresh index holds the next change; and
// that refreshes later empty every window and remove the fields.
func TestAggProperty(t *testing.T) {
	e := newAggEnv(t)
	for seed := range uint64(len(propSpecs)) {
		for _, pc := range propCases {
			t.Run(fmt.Sprintf("%v/%d", pc.f, seed), func(t *testing.T) {
				e.t = t
				runProp(t, e, pc, seed)
			})
		}
	}
}

func runProp(t *testing.T, e *aggEnv, pc propCase, seed uint64) {
	r := rand.New(rand.NewPCG(seed, uint64(pc.f)))
	sw := propSpecs[seed]
	s := window.Spec{Func: pc.f, Window: sw[0], Hop: sw[1], Lateness: sw[2]}
	w, hop, late := s.Window.Milliseconds(), s.Hop.Milliseconds(), s.Lateness.Milliseconds()
	var fs []AggFeature
	for _, ty := range pc.types {
		fs = append(fs, AggFeature{Name: "f_" + ty.String(), Spec: s, Type: ty})
	}
	m := fmt.Sprintf("prop_%v_%d", pc.f, seed)
	am := mustAgg(t, m, fs...)
	table := "t" + m
	keys := map[string]*propKey{}
	var names []string
	for i := range 3 {
		k := Key(table, fmt.Sprint(i))
		names = append(names, k)
		pk := &propKey{tiles: map[int64]bool{}}
		for range fs {
			pk.refs = append(pk.refs, window.NewReference(s))
		}
		keys[k] = pk
	}
	const partitions = 3
	var next [partitions]int64
	var sent [partitions][]propEvent // per partition, every original event sent
	now := int64(1_700_000_000_000) + r.Int64N(1e6)
	dim := 3
	for call := range 120 {
		now += r.Int64N(1500)
		var old [partitions]int // events of each partition sent before this call
		for p := range sent {
			old[p] = len(sent[p])
		}
		var seq []propEvent
		for range 1 + r.IntN(6) {
			p := r.IntN(partitions)
			t := now - r.Int64N(w+late+2*hop) + r.Int64N(hop)
			if pc.f == window.Latest {
				t -= t % 500 // equal times
			}
			ev := AggEvent{Topic: "trips", Partition: int32(p), Offset: next[p], Time: t}
			next[p]++
			if r.IntN(20) == 0 {
				dim = 2 + r.IntN(2) // from now on, vectors of another length
			}
			ev.Inputs = propInputs(r, pc, dim)
			pe := propEvent{key: names[r.IntN(len(names))], ev: ev}
			seq = append(seq, pe)
			sent[p] = append(sent[p], pe)
		}
		// Replays: a run of earlier offsets of one partition, anywhere in
		// the call (a restart, a retry, a second consumer group).
		replays := map[string]int{}
		if p := r.IntN(partitions); r.IntN(3) == 0 && old[p] > 0 {
			from := r.IntN(old[p])
			run := slices.Clone(sent[p][from : from+1+r.IntN(min(old[p]-from, 8))])
			for i := range run {
				run[i].replay = true
				replays[run[i].key]++
			}
			seq = slices.Insert(seq, r.IntN(len(seq)+1), run...)
		}
		// Group by key, in order, and apply the originals to the reference.
		var order []string
		byKey := map[string][]AggEvent{}
		want := map[string]*AggResult{}
		for _, x := range seq {
			if _, ok := byKey[x.key]; !ok {
				order = append(order, x.key)
				want[x.key] = &AggResult{Duplicates: replays[x.key]}
			}
			byKey[x.key] = append(byKey[x.key], x.ev)
			if x.replay {
				continue
			}
			pk := keys[x.key]
			want[x.key].Applied++
			for i, ref := range pk.refs {
				switch ref.Add(now, x.ev.Time, x.ev.Inputs[i]) {
				case window.Late:
					want[x.key].Late++
				case window.Rejected:
					want[x.key].Rejected++
				case window.Aggregated:
					pk.tiles[s.TileOf(x.ev.Time)] = true
				}
			}
		}
		// Split the keys into one or two calls of the script.
		var batch []aggKeyEvents
		for _, k := range order {
			batch = append(batch, aggKeyEvents{k, byKey[k]})
		}
		split := r.IntN(len(batch) + 1)
		var got []AggResult
		for _, part := range [][]aggKeyEvents{batch[:split], batch[split:]} {
			if len(part) > 0 {
				got = append(got, e.apply(am, now, 0, part)...)
			}
		}
		for i, k := range order {
			if got[i] != *want[k] {
				t.Fatalf("call %d key %s: script did %+v, want %+v", call, k, got[i], *want[k])
			}
			if want[k].Applied > 0 {
				keys[k].lastNow, keys[k].written = now, time.Now()
			}
		}
		for _, k := range names {
			pk := keys[k]
			if pk.lastNow == 0 {
				continue
			}
			checkStored(t, e, am, k, pk, pk.lastNow, fmt.Sprintf("call %d", call))
			if call%5 == 0 {
				for _, T := range []int64{now, now + 300, now + hop, now + w/2, now + w + 2*hop} {
					checkRead(t, e, am, k, pk, T, fmt.Sprintf("call %d", call))
				}
			}
			checkIndex(t, e, am, k, pk, s, pk.lastNow, fmt.Sprintf("call %d", call))
		}
		// A replay of the whole call changes nothing.
		if call%17 == 0 {
			before := dumpKeys(t, e, am, names)
			res := e.apply(am, now, 0, batch)
			for i, k := range order {
				if res[i].Applied != 0 || res[i].Duplicates != len(byKey[k]) {
					t.Fatalf("call %d replayed: %s: %+v", call, k, res[i])
				}
			}
			if after := dumpKeys(t, e, am, names); after != before {
				t.Fatalf("call %d: a replay changed\n%s\ninto\n%s", call, before, after)
			}
		}
	}
	// The refresher, later: each refresh leaves what a read computes.
	for _, dt := range []int64{hop / 2, hop, w / 2, w, w + hop, w + late + 2*hop} {
		T := now + dt
		e.refresh(am, T, names...)
		for _, k := range names {
			pk := keys[k]
			checkStored(t, e, am, k, pk, T, fmt.Sprintf("refresh at +%d", dt))
			checkRead(t, e, am, k, pk, T, fmt.Sprintf("refresh at +%d", dt))
			checkIndex(t, e, am, k, pk, s, T, fmt.Sprintf("refresh at +%d", dt))
		}
	}
	for _, k := range names {
		if n, _ := redis.Int(e.do("HLEN", k), nil); n != 0 {
			t.Errorf("%s: %d fields left after every window emptied", k, n)
		}
	}
	if n, _ := redis.Int(e.do("ZCARD", refreshIndexKey(m)), nil); n != 0 {
		t.Errorf("refresh index: %d keys left", n)
	}
}

// propInputs returns one event's inputs for the case's features.
func propInputs(r *rand.Rand, pc propCase, dim int) []window.Input {
	var in window.Input
	switch r.IntN(10) {
	case 0:
		in.Kind = window.InputSkip
	case 1:
		in.Kind = window.InputNull
	default:
		in.Kind = window.InputValue
	}
	num := func() float64 {
		switch r.IntN(100) {
		case 0:
			return math.NaN()
		case 1, 2, 3:
			return math.Copysign(0, -1)
		case 4, 5, 6:
			return 0
		}
		if r.IntN(4) == 0 {
			return float64(r.IntN(5) - 4) // small, so that ±0 can be the max
		}
		return float64(r.IntN(1<<22)-1<<21) / 4
	}
	out := make([]window.Input, len(pc.types))
	for i, ty := range pc.types {
		x := in
		if x.Kind == window.InputValue {
			switch pc.f {
			case window.Sum, window.Avg, window.Min, window.Max:
				if i == 0 {
					x.Num = num()
				} else {
					x.Num = out[0].Num
				}
			case window.MaxPooling, window.MinPooling, window.AvgPooling:
				if i == 0 {
					x.Vec = make([]float64, dim)
					for j := range x.Vec {
						x.Vec[j] = num()
					}
				} else {
					x.Vec = out[0].Vec
				}
			case window.Latest:
				var v any
				switch ty {
				case feature.Int64:
					v = r.Int64() - r.Int64()
				case feature.String:
					v = fmt.Sprintf("s%d", r.IntN(1000))
				default:
					v = []float64{num(), num()}
				}
				b, err := AppendValue(nil, v)
				if err != nil {
					panic(err)
				}
				x.Value = b
			case window.CountDistinct:
				if i == 0 {
					domain := uint64(30)
					if r.IntN(4) == 0 {
						domain = 5000
					}
					x.Hash = r.Uint64N(domain) * 0x9e3779b97f4a7c15
				} else {
					x.Hash = out[0].Hash
				}
			}
		}
		out[i] = x
	}
	return out
}

// want returns the reference's value of feature i of pk at T, as stored.
func want(t *testing.T, am *aggMaterialization, pk *propKey, i int, T int64) any {
	return refValue(t, pk.refs[i], am.features[i], T)
}

// agree compares a value from Redis (stored or read) with the reference.
func agree(f AggFeature, got, ref any) bool {
	if f.Spec.Func != window.CountDistinct || got == nil || ref == nil {
		return sameFeature(got, ref)
	}
	g, _ := feature.Convert(got, feature.Double)
	x, _ := feature.Convert(ref, feature.Double)
	return math.Abs(g.(float64)-x.(float64)) <= distinctBound(x.(float64))
}

// checkStored checks the stored fields of k, written at now, against the
// Go read of the state at now and the reference.
func checkStored(t *testing.T, e *aggEnv, am *aggMaterialization, k string, pk *propKey, now int64, when string) {
	t.Helper()
	stored := e.storedValues(am, k)
	read := e.read(am, k, now)
	for i, f := range am.features {
		ref := want(t, am, pk, i, now)
		if !sameFeature(stored[i], read[i]) {
			t.Fatalf("%s: %s %s: stored %#v, Go read %#v (reference %#v)", when, k, f.Name, stored[i], read[i], ref)
		}
		if !agree(f, stored[i], ref) {
			t.Fatalf("%s: %s %s at %d: stored %#v, reference %#v", when, k, f.Name, now, stored[i], ref)
		}
	}
}

// checkRead checks the Go read of k at T against the reference.
func checkRead(t *testing.T, e *aggEnv, am *aggMaterialization, k string, pk *propKey, T int64, when string) {
	t.Helper()
	read := e.read(am, k, T)
	for i, f := range am.features {
		if ref := want(t, am, pk, i, T); !agree(f, read[i], ref) {
			t.Fatalf("%s: %s %s at %d: Go read %#v, reference %#v", when, k, f.Name, T, read[i], ref)
		}
	}
}

// checkIndex checks k's score in the refresh index (and S's d): the next
// time after now a tile of an aggregated event enters or leaves a window;
// none when there is no such time. It also bounds S's TTL.
func checkIndex(t *testing.T, e *aggEnv, am *aggMaterialization, k string, pk *propKey, s window.Spec, now int64, when string) {
	t.Helper()
	w, hop, late := s.Window.Milliseconds(), s.Hop.Milliseconds(), s.Lateness.Milliseconds()
	var d int64
	newest := int64(math.MinInt64)
	for b := range pk.tiles {
		for _, x := range []int64{b * hop, (b+1)*hop + w} {
			if x > now && (d == 0 || x < d) {
				d = x
			}
		}
		if !s.Expired(b, pk.lastNow) {
			newest = max(newest, b)
		}
	}
	score, err := redis.Int64(e.c.Do("ZSCORE", refreshIndexKey(am.name), k))
	if d == 0 {
		if err != redis.ErrNil {
			t.Fatalf("%s: %s in the refresh index at %d (%v), want none", when, k, score, err)
		}
	} else if err != nil || score != d {
		t.Fatalf("%s: %s refresh score %d (%v), want %d", when, k, score, err, d)
	}
	S := stateKey(k, am.name)
	sd, err := redis.Int64(e.c.Do("HGET", S, "d"))
	if (d == 0) != (err == redis.ErrNil) || d != 0 && sd != d {
		t.Fatalf("%s: %s d = %d (%v), want %d", when, k, sd, err, d)
	}
	// S lives until its newest tile may no longer be written.
	bound := w + late + hop
	if newest != math.MinInt64 {
		bound = w + late + max(hop, (newest+1)*hop-pk.lastNow)
	}
	pttl, _ := redis.Int64(e.c.Do("PTTL", S))
	// Redis computes expiries from its cached clock, which lags under load:
	// allow 250ms (a missing term of the TTL would be a second or more).
	low := bound - time.Since(pk.written).Milliseconds() - 250
	if pttl > bound || pttl < low || pttl <= 0 {
		t.Fatalf("%s: %s PTTL %d, want in [%d, %d] (written %v ago, last now %d)", when, S, pttl, low, bound, time.Since(pk.written), pk.lastNow)
	}
}

// dumpKeys returns the fields of the keys and of their states, and the
// refresh index, as text.
func dumpKeys(t *testing.T, e *aggEnv, am *aggMaterialization, keys []string) string {
	t.Helper()
	var out string
	for _, k := range keys {
		for _, key := range []string{k, stateKey(k, am.name)} {
			m, err := redis.StringMap(e.c.Do("HGETALL", key))
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%q %q\n", key, m)
		}
	}
	idx, _ := redis.Strings(e.c.Do("ZRANGE", refreshIndexKey(am.name), 0, -1, "WITHSCORES"))
	return out + fmt.Sprint(idx)
}
