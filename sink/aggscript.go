package sink

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/window"
)

// aggScriptSource applies events to the sliding-window aggregations of
// one materialization M for one or more entity keys, exactly once, or
// refreshes their stored values (see package window for the semantics
// and statekey.go for the keys).
//
// KEYS[1] is M's refresh index (the cluster shard of the keys' slot);
// then, per entity key, K (the hash of feature values, "<table>:<key>")
// and S (stateKey(K, M)).
//
// ARGV: mode ('a' to apply events, 'r' to refresh), now (the writer's
// wall clock, unix ms), K's TTL in ms (0: none), the number of features
// nf, then per feature six arguments: its name (its field in K), its
// function (window.Func's name), its declared type (feature.Type's name),
// window, hop and allowed lateness in ms. In mode 'a', then per key: the
// number of events n, then n events of 3+nf arguments each: the offset
// field "o:<topic>:<partition>", the offset, the event time (unix ms),
// then one input per feature:
//
//	""      not a row: filtered out (nothing aggregated, not even COUNT's row)
//	"~"     a row whose agg_expr is null (COUNT counts the row; others skip it)
//	COUNT: "1"; SUM AVG MIN MAX: the number in decimal ("nan", "inf", "-inf");
//	*_POOLING: "v" then the vector as little-endian doubles (so that an
//	empty vector is not ""); LATEST: the value as its
//	FeatureValue base64, of the declared type; COUNT_DISTINCT: 16 hex digits
//
// Per key, events apply in order; an event whose offset is at most the
// one S holds for its partition is a duplicate and skipped, else the
// offset is kept. A row at or before now − window − lateness of a feature
// is late there and not aggregated. A POOLING vector whose length is not
// that of the feature's tiles is rejected. When no event of a key was
// applied, nothing of it is written. Otherwise: tiles that expired
// (window.Spec.Expired) are dropped when a feature's tiles are rewritten;
// its field of K is set to its value at now as a FeatureValue base64 of
// its type (deleted when null or when the value does not fit the type, as
// window.Output); S's d field (the next time a tile enters or leaves a
// window) and K's score in the index change when d changes; S's TTL
// becomes the longest of window + lateness + max(hop, end of its newest
// tile − now) over its features; K's TTL is set when it is not 0. A
// COUNT_DISTINCT tile is the HyperLogLog S .. ":d:" .. name .. ":" .. b,
// with a TTL until its tile expires.
//
// S's fields per feature: t:<name>, its tiles in window.AppendTiles'
// format (see stateTiles), and, for COUNT, SUM, AVG, MIN and MAX, the
// cache c:<name>, five or seven little-endian doubles: cur, the newest
// tile visible at the now it was written; p and q, the fold of the
// visible tiles before cur (rows and n; n and the sum; n and the minimum
// or maximum); the feature's next change (0: none); its newest tile; and,
// when tile cur is the newest, its two numbers, which t:<name> then
// lacks. While cur has not moved, an event in tile cur (the common case)
// changes the cache only, and the value is the cache folded with tile
// cur: the same operations in the same order as a fold of every tile
// (window.Spec.Fold), so the same bits, without reading the other tiles;
// 56 bytes are written, not the whole window. Any other event decodes and
// rewrites the tiles.
//
// Mode 'r' applies no event and writes no tile nor cache: it rewrites
// the fields of K from S at now, deletes them when S has no tiles (or is
// gone), and moves d and K's score in the index, or removes K from it
// when no tile will enter or leave a window.
//
// It returns four integers per key: events applied, duplicates skipped,
// vectors rejected, late rows (an event late for two features counts
// twice).
//
// The script is in three files, run as one: agg_struct.lua stands in
// for Redis's struct library where a server has none (the embedded
// sandbox's); agg_state.lua reads the arguments and decodes and encodes
// a feature's state; agg_apply.lua applies events, computes the values
// and writes.
var (
	//go:embed agg_struct.lua
	aggStructLua string
	//go:embed agg_state.lua
	aggStateLua string
	//go:embed agg_apply.lua
	aggApplyLua string

	aggScriptSource = aggStructLua + aggStateLua + aggApplyLua
)

// aggScript is the loaded form of aggScriptSource.
var aggScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(-1, aggScriptSource) })

// AggFeature is one aggregated feature of a materialization, as it is
// stored: its field in the entity's hash, its aggregation and its
// declared type.
type AggFeature struct {
	Name string
	Spec window.Spec
	Type feature.Type
}

// AggEvent is what one event gives one entity key's aggregated features:
// where it comes from (for exactly-once), its event time, and one input
// per feature, in the order of the features (see window.Input; LATEST's
// Value is the FeatureValue base64 of the declared type, COUNT_DISTINCT's
// Hash the value's 64-bit hash).
type AggEvent struct {
	Topic     string
	Partition int32
	Offset    int64
	Time      int64 // unix ms
	Inputs    []window.Input
}

// AggResult is what one script call did to one entity key.
type AggResult struct {
	Applied    int // events applied
	Duplicates int // events skipped: at or below the last offset applied of their partition
	Rejected   int // POOLING vectors not aggregated: another length than the feature's tiles
	Late       int // rows not aggregated by a feature: at or before now − window − allowed lateness
}

// aggKeyEvents is one entity key K and its events, in order, for one call.
type aggKeyEvents struct {
	key    string
	events []AggEvent
}

// aggMaterialization is the aggregated features of a materialization, as
// the script takes them: their description (ARGV) is built once.
type aggMaterialization struct {
	name     string
	features []AggFeature
	header   []any // per feature: name, function, type, window, hop, lateness (ms)
	tileRead []any // the fields read for get: t:<name> but COUNT_DISTINCT's, c:<name> of cached ones
}

// stateTiles returns the encoding of a cached feature's tiles (see
// window.AppendTiles) from its fields t:<name> and c:<name>: t's, and the
// newest tile when the cache holds it (56 bytes: its number first, then
// its two numbers after four others; see aggScriptSource).
func stateTiles(t, c []byte) []byte {
	if len(c) != 56 {
		return t
	}
	return append(append(append(make([]byte, 0, len(t)+24), t...), c[:8]...), c[40:]...)
}

// cached reports whether the script keeps a cache c:<name> for f (and in
// it, at times, the newest tile).
func cached(f window.Func) bool {
	switch f {
	case window.Count, window.Sum, window.Avg, window.Min, window.Max:
		return true
	}
	return false
}

// newAggMaterialization checks and prepares the aggregated features of
// materialization m.
func newAggMaterialization(m string, fs []AggFeature) (*aggMaterialization, error) {
	if strings.IndexByte(m, 0) >= 0 {
		return nil, fmt.Errorf("sink: materialization name %q has a NUL byte", m)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("sink: materialization %s has no aggregated features", m)
	}
	am := &aggMaterialization{name: m, features: fs}
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Name == "" || seen[f.Name] {
			return nil, fmt.Errorf("sink: materialization %s: feature name %q empty or repeated", m, f.Name)
		}
		seen[f.Name] = true
		if err := f.Spec.Check(); err != nil {
			return nil, fmt.Errorf("sink: feature %s: %w", f.Name, err)
		}
		if err := f.Spec.Func.CheckType(f.Type); err != nil {
			return nil, fmt.Errorf("sink: feature %s: %w", f.Name, err)
		}
		s := f.Spec
		am.header = append(am.header, f.Name, s.Func.String(), f.Type.String(),
			s.Window.Milliseconds(), s.Hop.Milliseconds(), s.Lateness.Milliseconds())
		if s.Func != window.CountDistinct {
			am.tileRead = append(am.tileRead, "t:"+f.Name)
		}
		if cached(s.Func) {
			am.tileRead = append(am.tileRead, "c:"+f.Name)
		}
	}
	return am, nil
}

// appendApplyArgs appends to args the arguments of an EVALSHA of
// aggScript that applies the events of keys (each K with its events, in
// order) at wall clock now: the script's hash, the keys, then ARGV. index
// is the refresh index (refreshIndexKey or, in a cluster, the shard of
// the keys' slot, which they must share); ttl is K's TTL in ms (0: none).
// The encoded inputs are appended to buf, which the arguments reference:
// keep it until they are sent.
func (am *aggMaterialization) appendApplyArgs(args []any, buf []byte, index string, now, ttl int64, keys []aggKeyEvents) ([]any, []byte, error) {
	args = append(args, aggScript().Hash(), 1+2*len(keys), index)
	for _, k := range keys {
		args = append(args, k.key, stateKey(k.key, am.name))
	}
	args = append(args, "a", now, ttl, len(am.features))
	args = append(args, am.header...)
	for _, k := range keys {
		args = append(args, len(k.events))
		for i := range k.events {
			e := &k.events[i]
			if len(e.Inputs) != len(am.features) {
				return args, buf, fmt.Errorf("sink: key %q: event %s/%d@%d has %d inputs for %d aggregated features",
					k.key, e.Topic, e.Partition, e.Offset, len(e.Inputs), len(am.features))
			}
			start := len(buf)
			buf = append(buf, "o:"...)
			buf = append(buf, e.Topic...)
			buf = append(buf, ':')
			buf = strconv.AppendInt(buf, int64(e.Partition), 10)
			args = append(args, buf[start:len(buf):len(buf)], e.Offset, e.Time)
			for j, in := range e.Inputs {
				start := len(buf)
				var err error
				if buf, err = appendAggInput(buf, am.features[j].Spec.Func, in); err != nil {
					return args, buf, fmt.Errorf("sink: key %q: event %s/%d@%d: feature %s: %w",
						k.key, e.Topic, e.Partition, e.Offset, am.features[j].Name, err)
				}
				args = append(args, buf[start:len(buf):len(buf)])
			}
		}
	}
	return args, buf, nil
}

// appendAggInput appends the script's form of one input of function f.
func appendAggInput(buf []byte, f window.Func, in window.Input) ([]byte, error) {
	switch in.Kind {
	case window.InputSkip:
		return buf, nil
	case window.InputNull:
		return append(buf, '~'), nil
	case window.InputValue:
	default:
		return buf, fmt.Errorf("invalid input kind %d", in.Kind)
	}
	switch f {
	case window.Count:
		return append(buf, '1'), nil
	case window.Sum, window.Avg, window.Min, window.Max:
		switch x := in.Num; {
		case math.IsNaN(x):
			return append(buf, "nan"...), nil
		case math.IsInf(x, 1):
			return append(buf, "inf"...), nil
		case math.IsInf(x, -1):
			return append(buf, "-inf"...), nil
		default:
			return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
		}
	case window.MaxPooling, window.MinPooling, window.AvgPooling:
		buf = append(buf, 'v')
		for _, x := range in.Vec {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
		return buf, nil
	case window.Latest:
		if len(in.Value) == 0 || in.Value[0] == '~' {
			return buf, errors.New("LATEST value is not a FeatureValue base64")
		}
		return append(buf, in.Value...), nil
	case window.CountDistinct:
		const hex = "0123456789abcdef"
		for shift := 60; shift >= 0; shift -= 4 {
			buf = append(buf, hex[in.Hash>>shift&15])
		}
		return buf, nil
	}
	return buf, fmt.Errorf("invalid function %v", f)
}

// appendRefreshArgs appends to args the arguments of an EVALSHA of
// aggScript that refreshes the stored values of keys at wall clock now
// (see aggScriptSource, mode 'r').
func (am *aggMaterialization) appendRefreshArgs(args []any, index string, now int64, keys []string) []any {
	args = append(args, aggScript().Hash(), 1+2*len(keys), index)
	for _, k := range keys {
		args = append(args, k, stateKey(k, am.name))
	}
	args = append(args, "r", now, 0, len(am.features))
	return append(args, am.header...)
}

// sendApply sends, on c, one call of the script that applies the events
// of keys; receiveApply reads its reply. Sending does not flush c, so
// that calls can be pipelined.
func (am *aggMaterialization) sendApply(c redis.Conn, index string, now, ttl int64, keys []aggKeyEvents) error {
	args, _, err := am.appendApplyArgs(nil, nil, index, now, ttl, keys)
	if err != nil {
		return err
	}
	if err := c.Send("EVALSHA", args...); err != nil {
		return fmt.Errorf("sink: send aggregation: %w", err)
	}
	return nil
}

// receiveApply reads the reply of one sendApply into out, one result per
// key of the call.
func receiveApply(c redis.Conn, out []AggResult) error {
	r, err := c.Receive()
	if err != nil {
		return fmt.Errorf("sink: aggregation: %w", err)
	}
	return aggResults(r, out)
}

// sendRefresh sends one call of the script that refreshes keys; read its
// reply with receiveRefresh.
func (am *aggMaterialization) sendRefresh(c redis.Conn, index string, now int64, keys []string) error {
	if err := c.Send("EVALSHA", am.appendRefreshArgs(nil, index, now, keys)...); err != nil {
		return fmt.Errorf("sink: send aggregation refresh: %w", err)
	}
	return nil
}

// receiveRefresh reads the reply of one sendRefresh.
func receiveRefresh(c redis.Conn) error {
	if _, err := c.Receive(); err != nil {
		return fmt.Errorf("sink: aggregation refresh: %w", err)
	}
	return nil
}
