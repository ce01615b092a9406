package sink

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

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

// batchesPerShard is how many batches a shard holds: while one is being
// answered by Redis, the next is already sent and a third collects.
const batchesPerShard = 3

// shard owns one connection and the keys that hash to it. Two goroutines
// share its work: the sender collects a batch, coalesces it and sends it
// in one pipelined write, then collects the next while Redis answers; the
// receiver reads each batch's replies in order, acks its updates, and
// retries a failed batch until it is written.
//
// Batches are written in the order they were collected, on one
// connection at a time: after a failure the receiver drops the
// connection and, holding sendMu so that nothing new is sent, writes the
// failed batch and every batch sent after it again, in order.
//
// Into a Redis Cluster (cl set) the sender only collects: the receiver
// writes each batch whole, in order, with one pipeline per master
// (clusterShard.exec), while the sender collects the next ones.
type shard struct {
	w     *Writer
	in    chan item
	timer *time.Timer // the sender's: the batch's flush interval
	sleep *time.Timer // the receiver's: backoff between attempts
	free  chan *batch // batches to collect into
	sent  chan *batch // collected batches, in order, for the receiver
	// cl, when set, writes the batches to a Redis Cluster (cluster.go).
	cl *clusterShard

	// sendMu is held while a batch is sent, and by the receiver while it
	// writes batches again after a failure. It guards what follows.
	sendMu sync.Mutex
	conn   redis.Conn
	// scriptErr is the error reply to loading the script on conn.
	scriptErr error
	connID    int64   // conn's CLIENT ID; 0: unknown
	dropped   []int64 // IDs of connections dropped, to kill (killDropped)
	args      []any
	argCache
}

// argCache holds the arguments that recur in every batch's commands,
// boxed once: each table's time field and TTL, and the field names. It
// belongs to one goroutine at a time.
type argCache struct {
	tables map[*Table]tableArgs
	names  []boxedName // field names as command arguments
}

// boxedName is a field name boxed as a command argument. Names are told
// apart by their memory: they come from the plan, the same strings in
// every update.
type boxedName struct {
	data *byte
	len  int
	arg  any
}

// maxBoxedNames bounds ac.names; names past it are boxed at every use.
const maxBoxedNames = 64

// name returns name as a command argument, without allocating for a name
// seen before.
func (ac *argCache) name(name string) any {
	data := unsafe.StringData(name)
	for i := range ac.names {
		if n := &ac.names[i]; n.data == data && n.len == len(name) {
			return n.arg
		}
	}
	var arg any = name
	if len(ac.names) < maxBoxedNames {
		ac.names = append(ac.names, boxedName{data, len(name), arg})
	}
	return arg
}

// tableArgs returns t's arguments, boxing them the first time.
func (ac *argCache) tableArgs(t *Table) tableArgs {
	ta, ok := ac.tables[t]
	if !ok {
		if ac.tables == nil {
			ac.tables = make(map[*Table]tableArgs)
		}
		ta = tableArgs{timeField: t.timeField(), ttl: t.TTL.Milliseconds()}
		ac.tables[t] = ta
	}
	return ta
}

// batch is what a shard collects and writes in one round trip.
type batch struct {
	updates []Update
	flushes []chan<- struct{}
	writes  []write
	index   map[writeKey]int
	stale   int    // updates dropped in the batch: an earlier one was newer
	calls   []call // the commands sent for the writes

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
	stopped := func() *time.Timer {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	s := &shard{
		w:     w,
		in:    make(chan item, w.opts.QueueSize),
		timer: stopped(),
		sleep: stopped(),
		free:  make(chan *batch, batchesPerShard),
		sent:  make(chan *batch, batchesPerShard),
	}
	for range batchesPerShard {
		s.free <- &batch{index: make(map[writeKey]int)}
	}
	if w.cluster != nil {
		s.cl = newClusterShard(s, w.cluster)
	}
	return s
}

// run runs the shard until the writer is closed or fails.
func (s *shard) run() {
	defer s.w.wg.Done()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.receive()
	}()
	s.send()
	<-done
	s.dropConn()
}

// send is the sender's loop: collect a batch, send it, hand it to the
// receiver.
func (s *shard) send() {
	w := s.w
	for {
		var b *batch
		select {
		case b = <-s.free:
		case <-w.ctx.Done():
			return
		case <-w.failed:
			return
		}
		if !s.collect(b) {
			return
		}
		if s.cl != nil {
			s.sent <- b // never blocks: it has room for every batch
			continue
		}
		s.sendMu.Lock()
		b.conn, b.sendErr, b.sentAt = nil, nil, time.Now()
		if len(b.writes) > 0 {
			b.conn, b.sendErr = s.getConn(b)
			if b.sendErr == nil {
				b.sendErr = s.sendBatch(b.conn, b)
			}
		}
		// Handed over before sendMu is released, so that a receiver
		// recovering from a failure finds every batch sent before.
		s.sent <- b // never blocks: it has room for every batch
		s.sendMu.Unlock()
	}
}

// collect fills b until it is full, a Flush marker arrives, or the flush
// interval passed since its first item. It returns false when the writer
// was closed or failed.
func (s *shard) collect(b *batch) bool {
	w := s.w
	var it item
	select {
	case it = <-s.in:
	case <-w.ctx.Done():
		return false
	case <-w.failed:
		return false
	}
	if s.add(b, it) {
		return true
	}
	s.timer.Reset(w.opts.FlushInterval)
	defer s.timer.Stop()
	for {
		// Take what is queued without the cost of the full select; the
		// timer is checked there, at the latest when the queue is empty.
		select {
		case it = <-s.in:
			if s.add(b, it) {
				return true
			}
			continue
		default:
		}
		if w.opts.SendWhenIdle && len(s.free) == batchesPerShard-1 {
			return true // nothing queued, nothing in flight: see SendWhenIdle
		}
		select {
		case it = <-s.in:
			if s.add(b, it) {
				return true
			}
		case <-s.timer.C:
			return true
		case <-w.ctx.Done():
			return false
		case <-w.failed:
			return false
		}
	}
}

// receive is the receiver's loop: read each sent batch's replies, ack it,
// and hand it back to the sender.
func (s *shard) receive() {
	w := s.w
	for {
		var b *batch
		select {
		case b = <-s.sent:
		case <-w.ctx.Done():
			return
		case <-w.failed:
			return
		}
		if !s.complete(b) {
			return
		}
	}
}

// complete reads b's replies; on a failure it writes b and the batches
// sent after it again. Into a cluster, it writes b (nothing was sent). It
// returns false when the writer was closed or failed first.
func (s *shard) complete(b *batch) bool {
	if len(b.writes) == 0 {
		s.finish(b)
		return true
	}
	if s.cl != nil {
		if !s.retry(b, nil) {
			return false
		}
		s.finish(b)
		return true
	}
	err := b.sendErr
	if err == nil {
		var stale int
		stale, err = s.receiveBatch(b.conn, b)
		if err == nil {
			s.written(b, stale, len(b.calls), time.Since(b.sentAt))
			s.finish(b)
			return true
		}
	}
	// Replies of later batches sent on this connection are unread: drop
	// it, and write them again after b, in order, before anything new.
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.conn == b.conn {
		s.dropConn()
	}
	if !s.retry(b, err) {
		return false
	}
	s.finish(b)
	for {
		select {
		case b = <-s.sent:
		default:
			return true
		}
		if len(b.writes) > 0 && !s.retry(b, nil) {
			return false
		}
		s.finish(b)
	}
}

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
	if u.Table.Ordering == EventTime && u.EventTime < wr.newest {
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

// written counts a batch whose every reply was read: cmds commands that
// wrote, stale of its updates found stale.
func (s *shard) written(b *batch, stale, cmds int, rt time.Duration) {
	w := s.w
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(BatchInfo{
			Updates:   len(b.updates),
			Writes:    len(b.writes),
			Commands:  cmds,
			RoundTrip: rt,
		})
	}
	w.stats.batches.Add(1)
	w.stats.commands.Add(int64(cmds))
	w.stats.writes.Add(int64(len(b.writes)))
	b.stale += stale
	w.failures.recovered(w.log)
}

// finish acks the written batch, releases Flush waiters, resets b and
// hands it back to the sender.
func (s *shard) finish(b *batch) {
	for i := range b.updates {
		if a := b.updates[i].Acker; a != nil {
			a.Ack(b.updates[i].Seq)
		}
	}
	s.w.stats.updates.Add(int64(len(b.updates)))
	s.w.stats.stale.Add(int64(b.stale))
	for _, f := range b.flushes {
		f <- struct{}{}
	}
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
	b.conn, b.sendErr = nil, nil
	s.free <- b // never blocks: it has room for every batch
}

// retry writes b until it is written, after a first attempt that failed
// with err (nil: b was not attempted on the current connection). s.sendMu
// is held, unless the shard writes to a cluster (its sender never sends).
// It returns false when the writer was closed or failed first.
func (s *shard) retry(b *batch, err error) bool {
	w := s.w
	reloaded := false
	for attempt := 0; ; attempt++ {
		if err != nil {
			w.stats.errors.Add(1)
			if w.ctx.Err() != nil {
				return false
			}
			wait := true
			if isNoScript(err) {
				// Redis restarted or SCRIPT FLUSH: the connection is
				// dropped, and the next one loads it again, at once
				// the first time.
				wait = reloaded
				reloaded = true
			}
			if isFatal(err) {
				w.fail(fmt.Errorf("sink: write to redis: %w", err))
				return false
			}
			if wait {
				w.failures.failure(w.log, err)
				if !s.pause(s.backoff(attempt)) {
					return false
				}
			}
			w.stats.retries.Add(1)
		}
		start := time.Now()
		var stale, cmds int
		stale, cmds, err = s.exec(b)
		if err == nil {
			s.written(b, stale, cmds, time.Since(start))
			return true
		}
		// Broken, or an error reply left later replies unread: either
		// way the next attempt starts on a new connection.
		s.dropConn()
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

// pause waits d, or until the writer is closed or fails.
func (s *shard) pause(d time.Duration) bool {
	s.sleep.Reset(d)
	defer s.sleep.Stop()
	select {
	case <-s.sleep.C:
		return true
	case <-s.w.ctx.Done():
		return false
	case <-s.w.failed:
		return false
	}
}

// exec writes b in one pipelined round trip on the shard's connection
// (or one per master of a cluster) and reads every reply; s.sendMu is
// held and no other batch is in flight. It returns the number of updates
// found stale and of commands that wrote.
func (s *shard) exec(b *batch) (stale, cmds int, err error) {
	if s.cl != nil {
		return s.cl.exec(b)
	}
	c, err := s.getConn(b)
	if err != nil {
		return 0, 0, err
	}
	if err := s.sendBatch(c, b); err != nil {
		return 0, 0, err
	}
	stale, err = s.receiveBatch(c, b)
	return stale, len(b.calls), err
}

// sendBatch sends the commands of b's writes on c, recording them in
// b.calls: the consecutive EventTime writes of a table go to one call of
// the script, up to scriptKeys at a time. s.sendMu is held.
func (s *shard) sendBatch(c redis.Conn, b *batch) error {
	b.calls = b.calls[:0]
	for i := 0; i < len(b.writes); {
		wr := &b.writes[i]
		if wr.table.Ordering == EventTime {
			j := i + 1
			for j < len(b.writes) && j-i < scriptKeys && b.writes[j].table == wr.table {
				j++
			}
			if err := s.sendScript(c, b, i, j); err != nil {
				return err
			}
			i = j
			continue
		}
		if err := s.sendArrival(c, b, i); err != nil {
			return err
		}
		i++
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

// sendScript sends one call of the script for writes[from:to], all of one
// table.
func (s *shard) sendScript(c redis.Conn, b *batch, from, to int) error {
	args := s.argCache.appendScript(s.args[:0], s.w.script, b.writes[from:to])
	err := c.Send("EVALSHA", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callScript, from: from, to: to})
	return nil
}

// appendScript appends the arguments of EVALSHA that call script
// (setIfNewerScript) for ws, all of one table: the hash, the keys, then
// ARGV as the script reads it.
func (ac *argCache) appendScript(args []any, script *redis.Script, ws []write) []any {
	ta := ac.tableArgs(ws[0].table)
	args = append(args, script.Hash(), len(ws))
	for i := range ws {
		args = append(args, ws[i].key)
	}
	args = append(args, ta.timeField, ta.ttl)
	for i := range ws {
		wr := &ws[i]
		if wr.sameTime() {
			args = append(args, len(wr.fields), wr.newest)
			for _, f := range wr.fields {
				args = append(args, ac.name(f.name), f.value)
			}
			continue
		}
		args = append(args, -len(wr.fields))
		for _, f := range wr.fields {
			args = append(args, ac.name(f.name), f.time, f.value)
		}
	}
	return args
}

// sendArrival sends the HSET (and PEXPIRE) of writes[i], an Arrival write.
func (s *shard) sendArrival(c redis.Conn, b *batch, i int) error {
	wr := &b.writes[i]
	ta := s.tableArgs(wr.table)
	args := append(s.args[:0], wr.key)
	for _, f := range wr.fields {
		args = append(args, s.name(f.name), f.value)
	}
	err := c.Send("HSET", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callHSet, from: i, to: i + 1})
	if wr.table.TTL <= 0 {
		return nil
	}
	if err := c.Send("PEXPIRE", wr.key, ta.ttl); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callPExpire, from: i, to: i + 1})
	return nil
}

// receiveBatch reads the reply of every command in b.calls from c and
// returns the number of updates found stale. Error replies are read to
// the end and the first is returned.
func (s *shard) receiveBatch(c redis.Conn, b *batch) (stale int, err error) {
	var replyErr error
	for n, cl := range b.calls {
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
				replyErr = fmt.Errorf("key %q: %w", b.writes[cl.from].key, err)
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
				stale += b.writes[cl.from+k].updates
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

// getConn returns the shard's connection for writing b, dialing a new
// one when there is none. s.sendMu is held. A broken connection is
// returned as it is: its batches fail, and the receiver drops it.
//
// The script is loaded right after dialing, whether b needs it or not:
// later, batches may be in flight on the connection, whose replies only
// the receiver reads, so a round trip of the sender's own (Do) would
// consume them. A connection that NOSCRIPT failed is dropped, and the
// next one loads the script again. An error reply to SCRIPT LOAD (say,
// NOPERM) fails only the batches that need the script.
func (s *shard) getConn(b *batch) (redis.Conn, error) {
	if s.conn == nil {
		c, err := s.w.pool.GetContext(s.w.ctx)
		if err != nil {
			return nil, err
		}
		s.scriptErr = nil
		if err := s.w.script.Load(c); err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				c.Close()
				return nil, fmt.Errorf("load script: %w", err)
			}
			s.scriptErr = fmt.Errorf("load script: %w", err)
		}
		id, err := redis.Int64(c.Do("CLIENT", "ID"))
		if err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				c.Close()
				return nil, fmt.Errorf("client id: %w", err)
			}
			id = 0 // not allowed: this connection cannot be killed when dropped
		}
		// The pool hands out again a connection it drained of every
		// reply when it was dropped: nothing of it is left to run.
		s.dropped = slices.DeleteFunc(s.dropped, func(d int64) bool { return d == id })
		if err := s.killDropped(c); err != nil {
			c.Close()
			return nil, err
		}
		s.conn, s.connID = c, id
	}
	if s.scriptErr != nil && b.needsScript() {
		return nil, s.scriptErr
	}
	return s.conn, nil
}

func (b *batch) needsScript() bool {
	for i := range b.writes {
		if b.writes[i].table.Ordering == EventTime {
			return true
		}
	}
	return false
}

// killDropped ends the connections dropped since the last dial (CLIENT
// KILL ID), on c, before anything is sent on it. Redis may not have read
// all the commands of a dropped connection yet, and would run them after
// the batches written again on c: an older arrival value over a newer one
// (event-time writes are safe: the script keeps the newest). Killing the
// connection discards what it did not run. Only a connection error keeps
// them to kill on the next connection.
func (s *shard) killDropped(c redis.Conn) error {
	for len(s.dropped) > 0 {
		_, err := c.Do("CLIENT", "KILL", "ID", s.dropped[0])
		var re redis.Error
		if err != nil && !errors.As(err, &re) {
			return fmt.Errorf("kill a dropped connection: %w", err)
		}
		if err != nil && !strings.Contains(string(re), "No such client") {
			s.w.log.Warn("redis: could not end a dropped connection; a write it still holds may run after newer writes", "err", err)
		}
		s.dropped = s.dropped[1:]
	}
	return nil
}

func (s *shard) dropConn() {
	if s.cl != nil {
		s.cl.close()
	}
	if s.conn != nil {
		if s.connID != 0 {
			s.dropped = append(s.dropped, s.connID)
		}
		s.conn.Close()
		s.conn, s.connID = nil, 0
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
