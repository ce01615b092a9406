package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// The aggregate writes of a batch. An update with Agg set is an event of
// its table's aggregated features; the batch groups the events of each
// key, in Submit order, never merging two (each is applied, or skipped
// as a duplicate, by its own offset), and writes each key's events with
// one call of the aggregation script (aggscript.go), which applies them
// exactly once: into one server, several keys of a table per call; into
// a cluster, one key per call, so that a call's keys share a slot.
//
// Exactly once needs, per key and partition, that no event is applied
// before an earlier one of its partition: the script would then skip the
// earlier one as a duplicate. Within a batch a key's events are one call,
// in order. Across batches, a shard sends a batch with aggregate writes
// only when no other one is in flight (aggTurn), so that a call that
// fails (an error reply, a dropped connection) cannot be overtaken by a
// later batch's call of the same key: the failed batch is written again
// first. The updates of a batch are acked once every reply is read.

// aggKeysPerCall bounds the keys of one script call into one server.
const aggKeysPerCall = 64

// aggEventsPerCall bounds the events of one script call, so that one
// call does not block Redis for long; a key's events are never split.
const aggEventsPerCall = 2000

// aggBatch is the aggregate events of a batch, by key.
type aggBatch struct {
	writes  []aggWrite
	index   map[writeKey]int
	results []AggResult // per write, from the attempt that succeeded
	holds   bool        // the batch holds its shard's aggSlot

	// Buffers of the calls being sent, reused.
	keys []aggKeyEvents
	args []any
	buf  []byte
}

// aggWrite is one key's aggregate events in a batch, in Submit order.
type aggWrite struct {
	table  *Table
	key    string
	events []AggEvent
}

// hasWrites reports whether b writes anything: row-level fields or
// aggregate events.
func (b *batch) hasWrites() bool { return len(b.writes) > 0 || len(b.aggs.writes) > 0 }

// add appends u's event to the write of its key.
func (ab *aggBatch) add(u Update) {
	if ab.index == nil {
		ab.index = make(map[writeKey]int)
	}
	k := writeKey{u.Table, u.Key}
	i, ok := ab.index[k]
	if !ok {
		i = len(ab.writes)
		ab.index[k] = i
		if i < cap(ab.writes) {
			ab.writes = ab.writes[:i+1]
			ab.writes[i].events = ab.writes[i].events[:0]
		} else {
			ab.writes = append(ab.writes, aggWrite{})
		}
		ab.writes[i].table, ab.writes[i].key = u.Table, u.Key
	}
	ab.writes[i].events = append(ab.writes[i].events, *u.Agg)
}

// reset empties ab for the next collection, keeping its memory.
func (ab *aggBatch) reset() {
	for i := range ab.writes {
		clear(ab.writes[i].events)
		ab.writes[i].table, ab.writes[i].events = nil, ab.writes[i].events[:0]
	}
	ab.writes = ab.writes[:0]
	clear(ab.index)
	clear(ab.results)
	ab.results = ab.results[:0]
	clear(ab.args)
	ab.args = ab.args[:0]
}

// aggTurn waits until no other batch of the shard with aggregate writes
// is in flight when b has some, and takes the turn (aggDone gives it
// back). It returns false when the writer was closed or failed first.
func (s *shard) aggTurn(b *batch) bool {
	if len(b.aggs.writes) == 0 {
		return true
	}
	select {
	case s.aggSlot <- struct{}{}:
		b.aggs.holds = true
		return true
	case <-s.w.ctx.Done():
		return false
	case <-s.w.failed:
		return false
	}
}

// aggDone counts what the written batch b's aggregate writes did and
// gives its turn back.
func (s *shard) aggDone(b *batch) {
	ab := &b.aggs
	if ab.holds {
		<-s.aggSlot
		ab.holds = false
	}
	if len(ab.writes) == 0 {
		return
	}
	s.w.stats.writes.Add(int64(len(ab.writes)))
	s.w.aggStats.add(ab.results)
	for i, r := range ab.results {
		if r.Rejected > 0 {
			s.w.aggStats.logRejected(s.w.log, ab.writes[i].key, r.Rejected)
		}
	}
}

// sendAggs sends, on c, the script calls of b's aggregate writes, the
// consecutive keys of a table together (see aggKeysPerCall), recording
// them in b.calls. One server only.
func (b *batch) sendAggs(c redis.Conn) error {
	ab := &b.aggs
	ab.results = resize(ab.results, len(ab.writes))
	now := time.Now().UnixMilli()
	for i := 0; i < len(ab.writes); {
		t := ab.writes[i].table
		j, events := i, 0
		for j < len(ab.writes) && j-i < aggKeysPerCall && ab.writes[j].table == t &&
			(j == i || events+len(ab.writes[j].events) <= aggEventsPerCall) {
			events += len(ab.writes[j].events)
			j++
		}
		if err := ab.send(c, refreshIndexKey(t.agg.name), now, i, j); err != nil {
			return err
		}
		b.calls = append(b.calls, call{kind: callAgg, from: i, to: j})
		i = j
	}
	return nil
}

// send sends one call of the script for writes[from:to], all of one
// table, with index its refresh index (shard).
func (ab *aggBatch) send(c redis.Conn, index string, now int64, from, to int) error {
	t := ab.writes[from].table
	if t.agg == nil {
		return fmt.Errorf("sink: table %s has no aggregated features, but an update of key %q has an aggregate event", t.Name, ab.writes[from].key)
	}
	ab.keys = ab.keys[:0]
	for i := from; i < to; i++ {
		ab.keys = append(ab.keys, aggKeyEvents{key: ab.writes[i].key, events: ab.writes[i].events})
	}
	var err error
	ab.args, ab.buf, err = t.agg.appendApplyArgs(ab.args[:0], ab.buf[:0], index, now, t.TTL.Milliseconds(), ab.keys)
	if err != nil {
		return err
	}
	if err := c.Send("EVALSHA", ab.args...); err != nil {
		return fmt.Errorf("sink: send aggregation: %w", err)
	}
	clear(ab.keys)
	return nil
}

// reply takes the reply (r, err) of the call cl: its results, or an
// error reply, kept in *replyErr (the first) with the call's first key.
// It returns any other error: the connection failed, or the reply is not
// the script's.
func (ab *aggBatch) reply(cl call, r any, err error, replyErr *error) error {
	if err == nil {
		err = aggResults(r, ab.results[cl.from:cl.to])
		if err == nil {
			return nil
		}
		return fmt.Errorf("read replies: %w", err)
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return fmt.Errorf("read replies: %w", err)
	}
	*replyErr = firstErr(*replyErr, fmt.Errorf("aggregations of key %q: %w", ab.writes[cl.from].key, err))
	return nil
}

// aggResults parses the script's reply r into out, one result per key of
// its call.
func aggResults(r any, out []AggResult) error {
	n, err := redis.Int64s(r, nil)
	if err != nil {
		return fmt.Errorf("sink: aggregation: %w", err)
	}
	if len(n) != 4*len(out) {
		return fmt.Errorf("sink: aggregation: %d results for %d keys", len(n), len(out))
	}
	for i := range out {
		out[i] = AggResult{int(n[4*i]), int(n[4*i+1]), int(n[4*i+2]), int(n[4*i+3])}
	}
	return nil
}

// AggStats counts what the aggregation script did with the events of the
// batches written (see AggResult).
type AggStats struct {
	AggApplied    int64 // events applied to aggregations
	AggDuplicates int64 // events skipped: applied before (a replay, a retry, another consumer group)
	AggRejected   int64 // POOLING vectors of another length than their feature's tiles
	AggLate       int64 // rows not aggregated by a feature: late when the script ran
}

// aggCounters are a Writer's AggStats, and the rate limit of its log of
// rejected vectors.
type aggCounters struct {
	applied, duplicates, rejected, late atomic.Int64

	mu      sync.Mutex
	logged  time.Time // the last line
	pending int       // rejected vectors not logged since
}

// rejectLogInterval is the most often a writer logs rejected vectors.
const rejectLogInterval = 10 * time.Second

// logRejected logs n vectors of key rejected (another length than their
// feature's tiles): at most one line per rejectLogInterval, with the
// count of those not logged since.
func (c *aggCounters) logRejected(log *slog.Logger, key string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending += n
	if now := time.Now(); now.Sub(c.logged) >= rejectLogInterval {
		log.Warn("aggregation: vectors of another length than their feature's tiles were not aggregated (agg_vectors_rejected)",
			"key", key, "rejected", c.pending)
		c.logged, c.pending = now, 0
	}
}

func (c *aggCounters) add(rs []AggResult) {
	var s AggStats
	for _, r := range rs {
		s.AggApplied += int64(r.Applied)
		s.AggDuplicates += int64(r.Duplicates)
		s.AggRejected += int64(r.Rejected)
		s.AggLate += int64(r.Late)
	}
	c.applied.Add(s.AggApplied)
	c.duplicates.Add(s.AggDuplicates)
	c.rejected.Add(s.AggRejected)
	c.late.Add(s.AggLate)
}

func (c *aggCounters) load() AggStats {
	return AggStats{c.applied.Load(), c.duplicates.Load(), c.rejected.Load(), c.late.Load()}
}

// loadScripts loads the event-time script and the aggregation script on
// c.
func loadScripts(c redis.Conn, script *redis.Script) error {
	if err := script.Load(c); err != nil {
		return err
	}
	return aggScript().Load(c)
}
