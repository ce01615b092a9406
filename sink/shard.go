package sink

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// setIfNewerScript writes fields of one hash unless the hash holds a newer
// event. KEYS[1] is the hash; ARGV[1] the hidden event-time field; ARGV[2]
// the TTL in milliseconds (0: none); then one triple per field: name,
// event time (unix ms), value. A field is written when the stored time is
// absent or not newer than its own; the stored time becomes the newest
// time written. Returns the number of fields written (0: stale).
const setIfNewerScript = `
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local args, n, newest, newestArg = {}, 0, nil, nil
for i = 3, #ARGV, 3 do
  local t = tonumber(ARGV[i+1])
  if cur == nil or t >= cur then
    args[n+1] = ARGV[i]
    args[n+2] = ARGV[i+2]
    n = n + 2
    if newest == nil or t > newest then
      newest = t
      newestArg = ARGV[i+1]
    end
  end
end
if n == 0 then
  return 0
end
args[n+1] = ARGV[1]
args[n+2] = newestArg
redis.call('HSET', KEYS[1], unpack(args))
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return n / 2
`

// item is a queued update, or a Flush marker when flush is set.
type item struct {
	u     Update
	flush chan<- struct{}
}

// shard owns one connection and the keys that hash to it: it collects a
// batch, coalesces it, writes it in one round trip, retries until written,
// and acks.
type shard struct {
	w     *Writer
	in    chan item
	timer *time.Timer
	// cl, when set, writes the batches to a Redis Cluster (cluster.go).
	cl *clusterShard

	conn   redis.Conn
	loaded bool // the script is loaded on conn

	// The batch, reused.
	updates []Update
	flushes []chan<- struct{}
	writes  []write
	index   map[writeKey]int
	stale   int // updates dropped in the batch: an earlier one was newer
	args    []any
	tables  map[*Table]tableArgs
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

type mergedField struct {
	name  string
	value []byte
	time  int64
}

// tableArgs holds a table's command arguments, boxed once.
type tableArgs struct {
	timeField any
	ttl       any
}

func newShard(w *Writer, i int) *shard {
	t := time.NewTimer(time.Hour)
	t.Stop()
	s := &shard{
		w:      w,
		in:     make(chan item, w.opts.QueueSize),
		timer:  t,
		index:  make(map[writeKey]int),
		tables: make(map[*Table]tableArgs),
	}
	if w.cluster != nil {
		s.cl = newClusterShard(s, w.cluster)
	}
	return s
}

func (s *shard) run() {
	defer s.w.wg.Done()
	defer s.dropConn()
	w := s.w
	for {
		var it item
		select {
		case it = <-s.in:
		case <-w.ctx.Done():
			return
		case <-w.failed:
			return
		}
		full := s.add(it)
		if !full {
			s.timer.Reset(w.opts.FlushInterval)
		collect:
			for {
				select {
				case it = <-s.in:
					if s.add(it) {
						break collect
					}
				case <-s.timer.C:
					break collect
				case <-w.ctx.Done():
					return
				case <-w.failed:
					return
				}
			}
			s.timer.Stop()
		}
		if !s.writeBatch() {
			return
		}
		s.finish()
	}
}

// add adds it to the batch and reports whether the batch must be sent now
// (it is full, or it is a Flush marker).
func (s *shard) add(it item) bool {
	if it.flush != nil {
		s.flushes = append(s.flushes, it.flush)
		return true
	}
	u := it.u
	s.updates = append(s.updates, u)
	if len(u.Fields) > 0 {
		s.coalesce(u)
	}
	return len(s.updates) >= s.w.opts.BatchSize
}

// coalesce merges u into the batch's write of its key.
func (s *shard) coalesce(u Update) {
	k := writeKey{u.Table, u.Key}
	i, ok := s.index[k]
	if !ok {
		i = len(s.writes)
		s.index[k] = i
		if i < cap(s.writes) {
			s.writes = s.writes[:i+1]
			s.writes[i].fields = s.writes[i].fields[:0]
		} else {
			s.writes = append(s.writes, write{})
		}
		wr := &s.writes[i]
		wr.table, wr.key, wr.newest, wr.updates = u.Table, u.Key, u.EventTime, 1
		for _, f := range u.Fields {
			wr.fields = append(wr.fields, mergedField{f.Name, f.Value, u.EventTime})
		}
		return
	}
	wr := &s.writes[i]
	if u.Table.Ordering == EventTime && u.EventTime < wr.newest {
		// Written in order, u would be rejected: an update of this
		// batch already set (or tried to set) a newer event.
		s.stale++
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

// finish acks the written batch, releases Flush waiters, and resets it.
func (s *shard) finish() {
	for i := range s.updates {
		if a := s.updates[i].Acker; a != nil {
			a.Ack(s.updates[i].Seq)
		}
	}
	s.w.stats.updates.Add(int64(len(s.updates)))
	s.w.stats.stale.Add(int64(s.stale))
	for _, f := range s.flushes {
		f <- struct{}{}
	}
	clear(s.updates)
	s.updates = s.updates[:0]
	clear(s.flushes)
	s.flushes = s.flushes[:0]
	for i := range s.writes {
		clear(s.writes[i].fields)
		s.writes[i].table, s.writes[i].fields = nil, s.writes[i].fields[:0]
	}
	s.writes = s.writes[:0]
	clear(s.index)
	s.stale = 0
}

// writeBatch writes the batch, retrying with backoff until it succeeds.
// It returns false when the writer was closed or failed first.
func (s *shard) writeBatch() bool {
	w := s.w
	if len(s.writes) == 0 {
		return true
	}
	reloaded := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			w.stats.retries.Add(1)
		}
		start := time.Now()
		stale, cmds, err := s.exec()
		if err == nil {
			if w.opts.OnBatch != nil {
				w.opts.OnBatch(BatchInfo{
					Updates:   len(s.updates),
					Writes:    len(s.writes),
					Commands:  cmds,
					RoundTrip: time.Since(start),
				})
			}
			w.stats.batches.Add(1)
			w.stats.commands.Add(int64(cmds))
			s.stale += stale
			w.failures.recovered(w.log)
			return true
		}
		w.stats.errors.Add(1)
		if w.ctx.Err() != nil {
			return false
		}
		if isNoScript(err) {
			// Redis restarted or SCRIPT FLUSH: load it again, at once
			// the first time.
			s.loaded = false
			if !reloaded {
				reloaded = true
				continue
			}
		}
		if isFatal(err) {
			w.fail(fmt.Errorf("sink: write to redis: %w", err))
			return false
		}
		w.failures.failure(w.log, err)
		if !s.sleep(s.backoff(attempt)) {
			return false
		}
	}
}

func (s *shard) backoff(attempt int) time.Duration {
	d := s.w.opts.MinBackoff
	for i := 0; i < attempt && d < s.w.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.w.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1) // jitter: [d/2, d]
}

func (s *shard) sleep(d time.Duration) bool {
	s.timer.Reset(d)
	defer s.timer.Stop()
	select {
	case <-s.timer.C:
		return true
	case <-s.w.ctx.Done():
		return false
	case <-s.w.failed:
		return false
	}
}

// exec sends the batch's writes in one pipelined round trip and reads
// every reply. It returns the number of updates found stale and the
// number of commands sent.
func (s *shard) exec() (stale, cmds int, err error) {
	if s.cl != nil {
		return s.cl.exec()
	}
	c, err := s.getConn()
	if err != nil {
		return 0, 0, err
	}
	for i := range s.writes {
		n, err := s.send(c, &s.writes[i])
		if err != nil {
			return 0, 0, err
		}
		cmds += n
	}
	if err := c.Flush(); err != nil {
		return 0, 0, fmt.Errorf("send batch: %w", err)
	}
	var replyErr error
	first := true
	for i := range s.writes {
		wr := &s.writes[i]
		replies := 1
		if wr.table.Ordering == Arrival && wr.table.TTL > 0 {
			replies = 2 // HSET, PEXPIRE
		}
		for range replies {
			var r any
			if first {
				// Only the first reply waits for the server: let Close
				// interrupt it.
				r, err = redis.ReceiveContext(c, s.w.ctx)
				first = false
			} else {
				r, err = c.Receive()
			}
			if err != nil {
				var re redis.Error
				if !errors.As(err, &re) {
					return 0, 0, fmt.Errorf("read replies: %w", err)
				}
				if replyErr == nil {
					replyErr = fmt.Errorf("key %q: %w", wr.key, err)
				}
				continue
			}
			if wr.table.Ordering == EventTime {
				if n, ok := r.(int64); ok && n == 0 {
					stale += wr.updates
				}
			}
		}
	}
	if replyErr != nil {
		return 0, 0, replyErr
	}
	return stale, cmds, nil
}

// send sends the commands of one write and returns how many it sent.
func (s *shard) send(c redis.Conn, wr *write) (int, error) {
	ta, ok := s.tables[wr.table]
	if !ok {
		ta = tableArgs{timeField: wr.table.timeField(), ttl: wr.table.TTL.Milliseconds()}
		s.tables[wr.table] = ta
	}
	args := s.args[:0]
	if wr.table.Ordering == EventTime {
		args = append(args, s.w.script.Hash(), 1, wr.key, ta.timeField, ta.ttl)
		for _, f := range wr.fields {
			args = append(args, f.name, f.time, f.value)
		}
		err := c.Send("EVALSHA", args...)
		s.args = clearArgs(args)
		if err != nil {
			return 0, fmt.Errorf("send batch: %w", err)
		}
		return 1, nil
	}
	args = append(args, wr.key)
	for _, f := range wr.fields {
		args = append(args, f.name, f.value)
	}
	err := c.Send("HSET", args...)
	s.args = clearArgs(args)
	if err != nil {
		return 0, fmt.Errorf("send batch: %w", err)
	}
	if wr.table.TTL <= 0 {
		return 1, nil
	}
	if err := c.Send("PEXPIRE", wr.key, ta.ttl); err != nil {
		return 0, fmt.Errorf("send batch: %w", err)
	}
	return 2, nil
}

// clearArgs drops the references args holds, keeping its memory.
func clearArgs(args []any) []any {
	clear(args)
	return args[:0]
}

// getConn returns the shard's healthy connection, dialing a new one (and
// loading the script into it) when needed.
func (s *shard) getConn() (redis.Conn, error) {
	if s.conn != nil && s.conn.Err() != nil {
		s.dropConn()
	}
	if s.conn == nil {
		c, err := s.w.pool.GetContext(s.w.ctx)
		if err != nil {
			return nil, err
		}
		s.conn, s.loaded = c, false
	}
	if !s.loaded && s.needsScript() {
		if err := s.w.script.Load(s.conn); err != nil {
			return nil, fmt.Errorf("load script: %w", err)
		}
		s.loaded = true
	}
	return s.conn, nil
}

func (s *shard) needsScript() bool {
	for i := range s.writes {
		if s.writes[i].table.Ordering == EventTime {
			return true
		}
	}
	return false
}

func (s *shard) dropConn() {
	if s.cl != nil {
		s.cl.close()
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// isNoScript reports whether err is Redis's NOSCRIPT reply.
func isNoScript(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(string(re), "NOSCRIPT")
}

// isFatal reports whether err is a Redis error reply that retrying cannot
// heal. Connection errors and other replies (LOADING, BUSY, OOM, READONLY,
// MASTERDOWN, ...) are retried.
func isFatal(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := string(re)
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "WRONGTYPE", "NOAUTH", "WRONGPASS", "NOPERM", "MOVED", "ASK", "CROSSSLOT":
		return true
	case "ERR":
		for _, s := range []string{"invalid password", "AUTH", "DB index", "unknown command", "invalid DB", "WRONGTYPE"} {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return strings.Contains(msg, "WRONGTYPE")
}
