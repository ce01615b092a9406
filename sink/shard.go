package sink

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// setIfNewerScript writes the fields of one or more hashes, each unless
// it holds a newer event. KEYS are the hashes; ARGV[1] is the hidden
// event-time field and ARGV[2] the TTL in milliseconds (0: none); then,
// for each key in turn, a count n and its fields:
//
//   - n > 0: the event time (unix ms) shared by all of them, then n pairs
//     of name and value. They are written when the stored time is absent
//     or not newer, and the stored time becomes theirs. This is the usual
//     case: every field of a write comes from events of one time.
//   - n < 0: -n triples of name, event time and value, when the fields of
//     a coalesced write come from events of different times. A field is
//     written when the stored time is absent or not newer than its own;
//     the stored time becomes the newest time written.
//
// It returns, per key, the number of fields written (0: stale).
//
// Writing many keys per call spreads the cost of running a script over
// them; with Redis Cluster the keys of one call must share a hash slot.
const setIfNewerScript = `
local tf, ttl = ARGV[1], tonumber(ARGV[2])
local res = {}
local i = 3
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[i])
  local cur = tonumber(redis.call('HGET', key, tf))
  local w = 0
  if n > 0 then
    local t = ARGV[i+1]
    if cur == nil or tonumber(t) >= cur then
      redis.call('HSET', key, tf, t, unpack(ARGV, i+2, i+1+2*n))
      w = n
    end
    i = i + 2 + 2*n
  else
    n = -n
    local args, m, newest, newestArg = {}, 0, nil, nil
    for j = i+1, i+3*n, 3 do
      local t = tonumber(ARGV[j+1])
      if cur == nil or t >= cur then
        args[m+1] = ARGV[j]
        args[m+2] = ARGV[j+2]
        m = m + 2
        if newest == nil or t > newest then
          newest = t
          newestArg = ARGV[j+1]
        end
      end
    end
    if m > 0 then
      args[m+1] = tf
      args[m+2] = newestArg
      redis.call('HSET', key, unpack(args))
      w = m / 2
    end
    i = i + 1 + 3*n
  end
  if w > 0 and ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  end
  res[k] = w
end
return res
`

// scriptKeys is the most keys one call of setIfNewerScript writes. Past a
// few dozen, the cost of a call is all in its keys.
const scriptKeys = 32

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
	calls   []call // the commands of the batch being written
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
)

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
	return &shard{
		w:      w,
		in:     make(chan item, w.opts.QueueSize),
		timer:  t,
		index:  make(map[writeKey]int),
		tables: make(map[*Table]tableArgs),
	}
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
			w.stats.writes.Add(int64(len(s.writes)))
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

// exec writes the batch in one pipelined round trip and reads every
// reply. It returns the number of updates found stale and the number of
// commands sent.
func (s *shard) exec() (stale, cmds int, err error) {
	c, err := s.getConn()
	if err != nil {
		return 0, 0, err
	}
	if err := s.sendBatch(c); err != nil {
		return 0, 0, err
	}
	stale, err = s.receiveBatch(c)
	if err != nil {
		return 0, 0, err
	}
	return stale, len(s.calls), nil
}

// sendBatch sends the commands of the batch's writes on c, recording them
// in s.calls: the consecutive EventTime writes of a table go to one call
// of the script, up to scriptKeys at a time.
func (s *shard) sendBatch(c redis.Conn) error {
	s.calls = s.calls[:0]
	for i := 0; i < len(s.writes); {
		wr := &s.writes[i]
		if wr.table.Ordering == EventTime {
			j := i + 1
			for j < len(s.writes) && j-i < scriptKeys && s.writes[j].table == wr.table {
				j++
			}
			if err := s.sendScript(c, i, j); err != nil {
				return err
			}
			i = j
			continue
		}
		if err := s.sendArrival(c, i); err != nil {
			return err
		}
		i++
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

func (s *shard) tableArgs(t *Table) tableArgs {
	ta, ok := s.tables[t]
	if !ok {
		ta = tableArgs{timeField: t.timeField(), ttl: t.TTL.Milliseconds()}
		s.tables[t] = ta
	}
	return ta
}

// sendScript sends one call of the script for writes[from:to], all of one
// table.
func (s *shard) sendScript(c redis.Conn, from, to int) error {
	ws := s.writes[from:to]
	ta := s.tableArgs(ws[0].table)
	args := append(s.args[:0], s.w.script.Hash(), len(ws))
	for i := range ws {
		args = append(args, ws[i].key)
	}
	args = append(args, ta.timeField, ta.ttl)
	for i := range ws {
		wr := &ws[i]
		if wr.sameTime() {
			args = append(args, len(wr.fields), wr.newest)
			for _, f := range wr.fields {
				args = append(args, f.name, f.value)
			}
			continue
		}
		args = append(args, -len(wr.fields))
		for _, f := range wr.fields {
			args = append(args, f.name, f.time, f.value)
		}
	}
	err := c.Send("EVALSHA", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	s.calls = append(s.calls, call{kind: callScript, from: from, to: to})
	return nil
}

// sendArrival sends the HSET (and PEXPIRE) of writes[i], an Arrival write.
func (s *shard) sendArrival(c redis.Conn, i int) error {
	wr := &s.writes[i]
	ta := s.tableArgs(wr.table)
	args := append(s.args[:0], wr.key)
	for _, f := range wr.fields {
		args = append(args, f.name, f.value)
	}
	err := c.Send("HSET", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	s.calls = append(s.calls, call{kind: callHSet, from: i, to: i + 1})
	if wr.table.TTL <= 0 {
		return nil
	}
	if err := c.Send("PEXPIRE", wr.key, ta.ttl); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	s.calls = append(s.calls, call{kind: callPExpire, from: i, to: i + 1})
	return nil
}

// receiveBatch reads the reply of every command in s.calls and returns
// the number of updates found stale. Error replies are read to the end
// and the first is returned.
func (s *shard) receiveBatch(c redis.Conn) (stale int, err error) {
	var replyErr error
	for n, cl := range s.calls {
		var r any
		if n == 0 {
			// Only the first reply waits for the server: let Close
			// interrupt it.
			r, err = redis.ReceiveContext(c, s.w.ctx)
		} else {
			r, err = c.Receive()
		}
		if err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				return 0, fmt.Errorf("read replies: %w", err)
			}
			if replyErr == nil {
				replyErr = fmt.Errorf("key %q: %w", s.writes[cl.from].key, err)
			}
			continue
		}
		if cl.kind != callScript {
			continue
		}
		written, _ := r.([]any)
		if len(written) != cl.to-cl.from {
			return 0, fmt.Errorf("read replies: the script answered %d keys of %d", len(written), cl.to-cl.from)
		}
		for k, v := range written {
			if n, ok := v.(int64); ok && n == 0 {
				stale += s.writes[cl.from+k].updates
			}
		}
	}
	if replyErr != nil {
		return 0, replyErr
	}
	return stale, nil
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
