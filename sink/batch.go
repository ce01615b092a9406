package sink

import (
	"github.com/feathrgo/feathr/config"
	"time"

	"github.com/gomodule/redigo/redis"
)

// item is a queued update, or a Flush marker when flush is set.
type item struct {
	u     Update
	flush chan<- struct{}
}

// batch is what a shard collects and writes in one round trip.
type batch struct {
	updates []Update
	flushes []chan<- struct{}
	writes  []write
	index   map[writeKey]int
	stale   int      // updates dropped in the batch: an earlier one was newer
	calls   []call   // the commands sent for the writes
	aggs    aggBatch // the aggregate events, by key (aggbatch.go)

	conn    redis.Conn // the connection the batch was sent on
	sendErr error      // the send failed
	sentAt  time.Time
}

type writeKey struct {
	table *Table
	key   string
}

// write is the coalesced write of one key.
type write struct {
	table   *Table
	key     string
	fields  []mergedField
	newest  int64 // max event time
	updates int   // updates merged into it
}

// sameTime reports whether every field of wr comes from its newest event.
func (wr *write) sameTime() bool {
	for i := range wr.fields {
		if wr.fields[i].time != wr.newest {
			return false
		}
	}
	return true
}

type mergedField struct {
	name  string
	value []byte
	time  int64
}

// call is one command sent for a batch: for callScript, setIfNewerScript
// writing writes[from:to]; else the HSET or PEXPIRE of writes[from].
type call struct {
	kind     callKind
	from, to int
}

type callKind uint8

const (
	callScript callKind = iota
	callHSet
	callPExpire
	callAgg // the aggregation script applying b.aggs.writes[from:to]
)

// add adds it to b and reports whether b must be sent now (it is full, or
// it is a Flush marker).
func (s *shard) add(b *batch, it item) bool {
	if it.flush != nil {
		b.flushes = append(b.flushes, it.flush)
		return true
	}
	u := it.u
	b.updates = append(b.updates, u)
	if len(u.Fields) > 0 {
		s.coalesce(b, u)
	}
	if u.Agg != nil {
		b.aggs.add(u)
	}
	return len(b.updates) >= s.w.opts.BatchSize
}

// coalesce merges u into b's write of its key.
func (s *shard) coalesce(b *batch, u Update) {
	k := writeKey{u.Table, u.Key}
	i, ok := b.index[k]
	if !ok {
		i = len(b.writes)
		b.index[k] = i
		if i < cap(b.writes) {
			b.writes = b.writes[:i+1]
			b.writes[i].fields = b.writes[i].fields[:0]
		} else {
			b.writes = append(b.writes, write{})
		}
		wr := &b.writes[i]
		wr.table, wr.key, wr.newest, wr.updates = u.Table, u.Key, u.EventTime, 1
		for _, f := range u.Fields {
			wr.fields = append(wr.fields, mergedField{f.Name, f.Value, u.EventTime})
		}
		return
	}
	wr := &b.writes[i]
	if u.Table.byEventTime() && u.EventTime < wr.newest {
		// Written in order, u would be rejected: an update of this
		// batch already set (or tried to set) a newer event.
		b.stale++
		return
	}
	wr.updates++
	s.w.stats.coalesced.Add(1)
	wr.newest = max(wr.newest, u.EventTime)
next:
	for _, f := range u.Fields {
		for j := range wr.fields {
			if wr.fields[j].name == f.Name {
				wr.fields[j].value, wr.fields[j].time = f.Value, u.EventTime
				continue next
			}
		}
		wr.fields = append(wr.fields, mergedField{f.Name, f.Value, u.EventTime})
	}
}

// needsScript reports whether b has event-time writes or aggregate
// writes, which the scripts write.
func (b *batch) needsScript() bool {
	if len(b.aggs.writes) > 0 {
		return true
	}
	for i := range b.writes {
		if b.writes[i].table.byEventTime() {
			return true
		}
	}
	return false
}

// commandsOf returns the number of commands a write takes, not counting
// ASKING.
func commandsOf(wr *write) int {
	if wr.table.Ordering == config.OrderArrival && wr.table.TTL > 0 {
		return 2
	}
	return 1
}

// reset empties b for the next collection, keeping its memory.
func (b *batch) reset() {
	clear(b.updates)
	b.updates = b.updates[:0]
	clear(b.flushes)
	b.flushes = b.flushes[:0]
	for i := range b.writes {
		clear(b.writes[i].fields)
		b.writes[i].table, b.writes[i].fields = nil, b.writes[i].fields[:0]
	}
	b.writes = b.writes[:0]
	clear(b.index)
	b.stale = 0
	b.calls = b.calls[:0]
	b.aggs.reset()
	b.conn, b.sendErr = nil, nil
}
