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
	updates   []Update
	flushes   []chan<- struct{}
	writes    []write
	index     map[writeKey]int
	aggs      aggBatch // the aggregate events, by key (aggbatch.go)
	bytes     int64    // the updates' sizes (see byteBound)
	stale     int      // updates dropped in the batch: earlier ones were newer
	coalesced int      // updates merged into the write of an earlier update
	calls     []call   // the commands sent for the writes

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
	if revoked(&u) {
		s.w.stats.dropped.Add(1)
		s.w.queued.release(u.size())
		return false
	}
	b.updates = append(b.updates, u)
	b.bytes += u.size()
	if len(u.Fields) > 0 {
		b.coalesce(u)
	}
	if u.Agg != nil {
		b.aggs.add(u)
	}
	return len(b.updates) >= s.w.opts.BatchSize
}

// revoked reports whether u's owner gave it up (see Revoker).
func revoked(u *Update) bool {
	r, ok := u.Acker.(Revoker)
	return ok && r.Revoked()
}

// prune drops b's updates whose owner gave them up, and coalesces b's
// writes, and groups its aggregate events, again from the updates left if
// it dropped any. It returns how
// many it dropped, and their sizes.
func (b *batch) prune() (int, int64) {
	kept := b.updates[:0]
	var size int64
	for i := range b.updates {
		if !revoked(&b.updates[i]) {
			kept = append(kept, b.updates[i])
		} else {
			size += b.updates[i].size()
		}
	}
	dropped := len(b.updates) - len(kept)
	if dropped == 0 {
		return 0, 0
	}
	b.bytes -= size
	clear(b.updates[len(kept):])
	b.updates = kept
	b.resetWrites()
	for _, u := range b.updates {
		if len(u.Fields) > 0 {
			b.coalesce(u)
		}
		if u.Agg != nil {
			b.aggs.add(u)
		}
	}
	return dropped, size
}

// coalesce merges u into b's write of its key. With event-time ordering
// each field keeps the value of its newest update (equal times: the later
// one); an update none of whose fields is kept is stale.
func (b *batch) coalesce(u Update) {
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
	byTime := u.Table.byEventTime()
	kept := false
next:
	for _, f := range u.Fields {
		for j := range wr.fields {
			if wr.fields[j].name == f.Name {
				if !byTime || u.EventTime >= wr.fields[j].time {
					wr.fields[j].value, wr.fields[j].time = f.Value, u.EventTime
					kept = true
				}
				continue next
			}
		}
		wr.fields = append(wr.fields, mergedField{f.Name, f.Value, u.EventTime})
		kept = true
	}
	if !kept {
		// Written in order, u would be rejected: updates of this batch
		// already set (or tried to set) newer values of all its fields.
		b.stale++
		return
	}
	wr.updates++
	b.coalesced++
	wr.newest = max(wr.newest, u.EventTime)
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
	b.bytes = 0
	b.resetWrites()
	b.conn, b.sendErr = nil, nil
}

// resetWrites empties b's coalesced writes and what was counted and sent
// for them, keeping their memory.
func (b *batch) resetWrites() {
	for i := range b.writes {
		clear(b.writes[i].fields)
		b.writes[i].table, b.writes[i].fields = nil, b.writes[i].fields[:0]
	}
	b.writes = b.writes[:0]
	clear(b.index)
	b.stale, b.coalesced = 0, 0
	b.calls = b.calls[:0]
	b.aggs.reset()
}
