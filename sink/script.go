package sink

import (
	"bytes"
	_ "embed"
	"fmt"
	"unsafe"

	"github.com/gomodule/redigo/redis"
)

// setIfNewerScript writes the fields of one or more hashes, each field
// unless the key holds a newer event time for it. KEYS are the hashes;
// ARGV[1] is the hidden event-time field (HiddenTimeField), ARGV[2] the hidden
// older-times field (OlderTimesField), ARGV[3] the TTL in milliseconds
// (0: none), ARGV[4] the coverage of each key, one byte per key, ARGV[5]
// the number m of the table's features and ARGV[6] to ARGV[5+m] their
// names (sent only when a key's coverage is '0'); then, for each key in
// turn, a count n and its fields:
//
//   - n > 0: the event time (unix ms) shared by all of them, then n pairs
//     of name and value. This is the usual case: every field of a write
//     comes from events of one time.
//   - n < 0: -n triples of name, event time and value, when the fields of
//     a coalesced write come from events of different times.
//
// A key's coverage is '1' when its fields include every feature of the
// table, '0' when they are some of them, and '-' when the table's
// features are unknown or the fields include others: the script then
// lists the hash's fields (HKEYS) when it needs the table's features.
//
// Each feature has its own event time. The event-time field holds T, the
// newest time of any feature of the materialization written into the
// key; every feature the key holds has time T, except those listed in the
// older-times field: a JSON array of T and an object of feature name to
// time, ["T",{"name":"time",...}], the times as decimal strings ("" for a
// feature whose time is unknown: any write replaces it). The field counts
// only while its T is the event-time field's: a write that brings every
// feature at a newer time leaves it stale, without reading it. A value
// written by earlier versions (a plain number in the event-time field,
// no older-times field) reads the same: every feature present has that
// time. The two fields go together: one must not be removed without the
// other.
//
// A field is written when its own stored time is absent or not newer
// than its own (equal: the later arrival wins), so a feature is never
// refused because of a time written for other features only. When a
// write makes T newer without some feature the key holds, that feature
// keeps the old T in the older-times field. The usual case costs one HGET
// of the event-time field and one HSET, as a single time per key did: the
// update's time newer than T (or the key new), and the update brings
// every feature of the table (coverage '1'); an update that brings only
// some (a null feature, another source) costs an HLEN too, which tells
// whether the key holds others, and only then are the older times read
// and presence checked (HMGET).
//
// Fields are set, and presence checked, in chunks of 1000 arguments:
// unpack takes at most about 8000. The script returns, per key, the
// number of fields written (0: stale); an error while writing a key (a
// Lua error, or one of a command, such as OOM) ends the call and is
// returned in that key's place, as an error reply whose code is kept
// ("ERR" for a Lua error), so that the writer can name the key.
//
// Writing many keys per call spreads the cost of running a script over
// them; with Redis Cluster the keys of one call must share a hash slot.
//
// The script is eventtime.lua, embedded as is (its first line is empty,
// as it was when the script was a string here: the file's line numbers
// are those of Lua's errors, user_script:N).
//
//go:embed eventtime.lua
var setIfNewerScript string

// scriptReply reads the reply of a call of setIfNewerScript that wrote
// ws: it returns the number of updates found stale, or the error reply of
// a key, naming it (a redis.Error in its chain), or an error when the
// reply is not what the script returns.
func scriptReply(r any, ws []write) (int, error) {
	written, _ := r.([]any)
	stale := 0
	for k, v := range written {
		if k == len(ws) {
			break
		}
		switch v := v.(type) {
		case int64:
			if v == 0 {
				stale += ws[k].updates
			}
		case redis.Error:
			return 0, fmt.Errorf("key %q: %w", ws[k].key, v)
		}
	}
	if len(written) != len(ws) {
		return 0, fmt.Errorf("the script answered %d keys of %d", len(written), len(ws))
	}
	return stale, nil
}

// scriptKeys is the most keys one call of setIfNewerScript writes. Past a
// few dozen, the cost of a call is all in its keys.
const scriptKeys = 32

// cmdBuilder builds and sends the commands of writes: a call of
// setIfNewerScript for event-time writes, HSET and (with a TTL) PEXPIRE
// for arrival writes. The arguments that recur in every batch are boxed
// once: each table's time field and TTL, and the field names; the others
// refer to the writes in place (see argString), which holds because
// every redis.Conn the writer sends on copies the arguments before Send
// returns: a connection that kept them for later (a deferred pipeline, a
// wrapper logging them afterwards) must not be used here. It belongs to
// one goroutine at a time.
type cmdBuilder struct {
	script *redis.Script
	tables map[*Table]*tableArgs
	names  []boxedName // field names as command arguments
	hash   any         // the script's SHA1, boxed once
	args   []any       // the arguments of the command being sent
	ints   []int64     // integer arguments of the command being sent (int)
	// coverage is the script's coverage argument being sent.
	coverage []byte
}

// send sends the commands of ws on c, each after ASKING when asking: one
// call of the script when ws are event-time writes (all of one table, at
// most scriptKeys), else the HSET, and with a TTL the PEXPIRE, of ws[0],
// its only write (see commandsOf).
func (cb *cmdBuilder) send(c redis.Conn, ws []write, asking bool) error {
	wr := &ws[0]
	if wr.table.byEventTime() {
		cb.args = cb.appendScript(cb.args[:0], ws)
		return cb.sendArgs(c, "EVALSHA", asking)
	}
	cb.args = append(cb.args[:0], argString(&wr.key))
	for j := range wr.fields {
		f := &wr.fields[j]
		cb.args = append(cb.args, cb.name(f.name), argBytes(&f.value))
	}
	if err := cb.sendArgs(c, "HSET", asking); err != nil || wr.table.TTL <= 0 {
		return err
	}
	cb.args = append(cb.args[:0], argString(&wr.key), cb.tableArgs(wr.table).ttl)
	return cb.sendArgs(c, "PEXPIRE", asking)
}

// sendArgs sends cmd with the arguments in cb.args, after ASKING when
// asking, and drops the references cb.args holds, keeping its memory.
func (cb *cmdBuilder) sendArgs(c redis.Conn, cmd string, asking bool) error {
	var err error
	if asking {
		err = c.Send("ASKING")
	}
	if err == nil {
		err = c.Send(cmd, cb.args...)
	}
	clear(cb.args)
	cb.args = cb.args[:0]
	cb.ints = cb.ints[:0]
	return err
}

// int returns v as a command argument without allocating: the runtime
// boxes small non-negative integers without allocating, and others are
// stored in cb.ints (or in the array it outgrew, which the argument keeps
// alive), reused once the command is sent.
func (cb *cmdBuilder) int(v int) any {
	if v >= 0 && v < 256 {
		return v
	}
	cb.ints = append(cb.ints, int64(v))
	return argInt64(&cb.ints[len(cb.ints)-1])
}

// boxedName is a field name boxed as a command argument. Names are told
// apart by their memory: they come from the plan, the same strings in
// every update.
type boxedName struct {
	data *byte
	len  int
	arg  any
}

// maxBoxedNames bounds cb.names; names past it are boxed at every use.
const maxBoxedNames = 64

// name returns name as a command argument, without allocating for a name
// seen before.
func (cb *cmdBuilder) name(name string) any {
	data := unsafe.StringData(name)
	for i := range cb.names {
		if n := &cb.names[i]; n.data == data && n.len == len(name) {
			return n.arg
		}
	}
	var arg any = name
	if len(cb.names) < maxBoxedNames {
		cb.names = append(cb.names, boxedName{data, len(name), arg})
	}
	return arg
}

// tableArgs holds a table's command arguments, boxed once, and what
// coverage needs to know of its features.
type tableArgs struct {
	timeField  any
	olderField any
	ttl        any
	features   []any          // the names of Table.Features
	index      map[string]int // Table.Features' positions, for more than a few
	names      []string       // Table.Features
	seen       []uint32       // per feature: the stamp of the last write that has it
	stamp      uint32
}

// tableArgs returns t's arguments, boxing them the first time.
func (cb *cmdBuilder) tableArgs(t *Table) *tableArgs {
	ta, ok := cb.tables[t]
	if !ok {
		if cb.tables == nil {
			cb.tables = make(map[*Table]*tableArgs)
		}
		ta = &tableArgs{timeField: t.timeField(), olderField: t.olderField(), ttl: t.TTL.Milliseconds(),
			names: t.Features, seen: make([]uint32, len(t.Features))}
		for _, f := range t.Features {
			ta.features = append(ta.features, cb.name(f))
		}
		if len(t.Features) > linearFeatures {
			ta.index = make(map[string]int, len(t.Features))
			for i, f := range t.Features {
				ta.index[f] = i
			}
		}
		cb.tables[t] = ta
	}
	return ta
}

// linearFeatures is the most features a table's lookup scans; past it, a
// map finds them.
const linearFeatures = 8

// feature returns the position of name in the table's features, or -1.
func (ta *tableArgs) feature(name string) int {
	if ta.index != nil {
		if i, ok := ta.index[name]; ok {
			return i
		}
		return -1
	}
	for i, f := range ta.names {
		if f == name {
			return i
		}
	}
	return -1
}

// coverage returns the script's coverage of wr (see setIfNewerScript):
// '1' when wr writes every feature of the table, '0' when some of them,
// '-' when the table's features are unknown or wr writes others.
func (ta *tableArgs) coverage(wr *write) byte {
	if len(ta.names) == 0 {
		return '-'
	}
	ta.stamp++
	if ta.stamp == 0 { // wrapped: forget every stamp
		clear(ta.seen)
		ta.stamp = 1
	}
	distinct := 0
	for i := range wr.fields {
		j := ta.feature(wr.fields[i].name)
		if j < 0 {
			return '-'
		}
		if ta.seen[j] != ta.stamp {
			ta.seen[j] = ta.stamp
			distinct++
		}
	}
	if distinct == len(ta.names) {
		return '1'
	}
	return '0'
}

// appendScript appends the arguments of the EVALSHA that calls
// setIfNewerScript for ws, all of one table: the script's hash, the
// keys, then ARGV as the script reads it.
func (cb *cmdBuilder) appendScript(args []any, ws []write) []any {
	ta := cb.tableArgs(ws[0].table)
	if cb.hash == nil {
		cb.hash = cb.script.Hash()
	}
	args = append(args, cb.hash, cb.int(len(ws)))
	for i := range ws {
		args = append(args, argString(&ws[i].key))
	}
	cb.coverage = cb.coverage[:0]
	for i := range ws {
		cb.coverage = append(cb.coverage, ta.coverage(&ws[i]))
	}
	// The table's features are needed for coverage '0' only.
	features := ta.features
	if bytes.IndexByte(cb.coverage, '0') < 0 {
		features = nil
	}
	args = append(args, ta.timeField, ta.olderField, ta.ttl, argBytes(&cb.coverage), cb.int(len(features)))
	args = append(args, features...)
	for i := range ws {
		wr := &ws[i]
		if wr.sameTime() {
			args = append(args, cb.int(len(wr.fields)), argInt64(&wr.newest))
			for j := range wr.fields {
				f := &wr.fields[j]
				args = append(args, cb.name(f.name), argBytes(&f.value))
			}
			continue
		}
		args = append(args, cb.int(-len(wr.fields)))
		for j := range wr.fields {
			f := &wr.fields[j]
			args = append(args, cb.name(f.name), argInt64(&f.time), argBytes(&f.value))
		}
	}
	return args
}
