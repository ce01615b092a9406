package sink

import (
	"strconv"
	"strings"
	"sync"

	"github.com/mna/redisc"
)

// The keys of sliding-window aggregations (package window), besides the
// entity's hash K = "<table>:<key>" whose fields hold the values:
//
//   - the state hash S = stateKey(K, M) of materialization M: the offsets
//     applied, the tiles and the next refresh time (see aggscript.go);
//   - one HyperLogLog per COUNT_DISTINCT feature and tile: S + ":d:" +
//     feature + ":" + tile number;
//   - the refresh index of M, a sorted set of the keys K whose stored
//     values change at a known time (its score): refreshIndexKey(M) on one
//     server, clusterRefreshIndexKey(M, slot) per hash slot in a cluster.
//
// S and its HyperLogLogs hash to K's slot, and the cluster index shard
// of K's slot does too, so that one script call can update all of them
// on a Redis Cluster. None can be the key of a Feathr table: they start
// with '{' or "__feathr_", and config validation rejects a table name
// with a NUL byte, and one with '{' or '}' in a materialization with
// aggregated features.

// stateInfix separates S's hash tag from the materialization and the key.
const stateInfix = "\x00agg\x00"

// stateKey returns S, the key of the aggregation state of materialization
// m for the entity key k. Let tag(k) be the part of k that Redis Cluster
// hashes (its hash tag, else all of k). When tag(k) is not empty and has
// no '}', S = "{" + tag(k) + "}\x00agg\x00" + m + "\x00" + k, which hashes
// as k. Otherwise (k is empty, or has no valid hash tag but a '}'), the
// braces hold slotTag(slot of k), a string that hashes to k's slot.
// Either way every key S + suffix hashes to k's slot too.
func stateKey(k, m string) string {
	tag := hashTag(k)
	if tag == "" || strings.IndexByte(tag, '}') >= 0 {
		tag = slotTag(redisc.Slot(k))
	}
	var b strings.Builder
	b.Grow(len(tag) + len(stateInfix) + len(m) + len(k) + 3)
	b.WriteByte('{')
	b.WriteString(tag)
	b.WriteByte('}')
	b.WriteString(stateInfix)
	b.WriteString(m)
	b.WriteByte(0)
	b.WriteString(k)
	return b.String()
}

// hashTag returns the part of key that Redis Cluster hashes: the content
// between the first '{' and the first '}' after it when that is not
// empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// slotTags holds, per hash slot, the smallest number whose decimal form
// hashes to that slot (each is under 110,000). It is computed on first
// use, the same on every run.
var slotTags = sync.OnceValue(func() *[redisc.HashSlots]uint32 {
	var tags [redisc.HashSlots]uint32
	var seen [redisc.HashSlots]bool
	var buf [10]byte
	for i, left := uint32(0), redisc.HashSlots; left > 0; i++ {
		s := redisc.Slot(string(strconv.AppendUint(buf[:0], uint64(i), 10)))
		if !seen[s] {
			seen[s], tags[s] = true, i
			left--
		}
	}
	return &tags
})

// slotTag returns a short string without braces that hashes to slot,
// e.g. "{" + slotTag(s) + "}" starts a key of slot s.
func slotTag(slot int) string {
	return strconv.FormatUint(uint64(slotTags()[slot]), 10)
}

// refreshIndexPrefix starts the key of every refresh index.
const refreshIndexPrefix = "__feathr_refresh:"

// refreshIndexKey returns the refresh index of materialization m on a
// single Redis server: "__feathr_refresh:<m>".
func refreshIndexKey(m string) string { return refreshIndexPrefix + m }

// clusterRefreshIndexKey returns the shard of materialization m's refresh
// index that holds the keys of hash slot slot, in a Redis Cluster:
// "__feathr_refresh:<m>:{<slotTag(slot)>}", a key of that slot.
func clusterRefreshIndexKey(m string, slot int) string {
	return refreshIndexPrefix + m + ":{" + slotTag(slot) + "}"
}
