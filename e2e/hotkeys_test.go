package e2e

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/sink"
)

// The value check that every fault drill shares: hot keys, each with
// many events produced in and out of event-time order, a sampler that
// reads them from Redis every 100 ms while the drill runs and fails the
// test when a value ever goes back to an older event, and a final check
// that each key holds the value of its newest event.

// hotSchema is the Avro schema of a hot key's event: entity id, the
// event's sequence number among its key's events, its event time in unix
// milliseconds, and padding (any size) that only the blob feature reads.
const hotSchema = `{"type": "record", "name": "Hot", "fields": [
  {"name": "id", "type": "long"},
  {"name": "seq", "type": "long"},
  {"name": "ts", "type": "long"},
  {"name": "pad", "type": ["null", "string"], "default": null}]}`

// hotTable and hotMaterialization are the Redis table and the
// materialization of hotConfig.
const (
	hotTable           = "hot"
	hotMaterialization = "m"
)

// hotOptions change hotConfig's file.
type hotOptions struct {
	// format replaces the source's "format: json" line (indented by 4),
	// e.g. "format: confluent\n    registry: {url: ...}".
	format string
	// mat adds lines to the materialization (indented by 4), e.g.
	// "on_error: stop".
	mat string
	// ordering is the table's ordering: "event" (the default) or
	// "arrival".
	ordering string
	// blob adds a STRING feature of the event's pad.
	blob bool
}

// hotConfig reads hot keys' events from topic into table hot with
// feature val = id * 1000000 + seq: each event's value is its own, so the
// value Redis holds names the event it came from. The event time is the
// event's ts.
func hotConfig(brokers, topic, group, redisAddr string, o hotOptions) string {
	format := o.format
	if format == "" {
		format = "format: json"
	}
	ordering := o.ordering
	if ordering == "" {
		ordering = "event"
	}
	blob, blobFeature := "", ""
	if o.blob {
		blob = "\n      blob: {type: STRING, transform: \"pad\"}"
		blobFeature = ", blob"
	}
	mat := ""
	if o.mat != "" {
		mat = "    " + strings.ReplaceAll(strings.TrimSpace(o.mat), "\n", "\n    ") + "\n"
	}
	return fmt.Sprintf(`sources:
  events:
    kafka: {brokers: [%q], topics: [%q], group: %q}
    %s
    schema: |
      %s
    timestamp: ts
keys:
  id: {column: id, type: INT64}
anchors:
  a:
    source: events
    key: [id]
    features:
      val: {type: INT64, transform: "id * 1000000 + seq"}%s
online_store:
  redis: {addr: %q}
materializations:
  %s:
    sink: {redis: {table: %s, ordering: %s}}
    features: [val%s]
%s`, brokers, topic, group, format, strings.ReplaceAll(hotSchema, "\n", "\n      "), blob,
		redisAddr, hotMaterialization, hotTable, ordering, blobFeature, mat)
}

// hotEvent is one event of a hot key.
type hotEvent struct {
	key, seq  int
	time      int64 // event time, unix ms
	partition int32
	offset    int64 // in its partition once produced; -1 before
}

// value is the feature val that the event gives its key.
func (e hotEvent) value() int64 { return int64(e.key)*1_000_000 + int64(e.seq) }

func (e hotEvent) String() string {
	return fmt.Sprintf("key %d event %d (time %d, value %d)", e.key, e.seq, e.time, e.value())
}

// hotKeys are a drill's hot keys 0..n-1 on topic, key k on partition
// k % partitions. They make the drill's events, remember what was
// produced, and check what Redis holds: with ordering event (the
// default), an event's value must never be replaced by an older event's,
// and at the end each key holds the value of its newest event; with
// ordering arrival, "older" and "newest" are in production order.
type hotKeys struct {
	topic      string
	partitions int
	n          int
	arrival    bool  // the table's ordering is arrival
	base       int64 // unix ms: where event times start
	pad        int   // bytes of padding in each event (JSON)
	// encode is an event's message value; nil: JSON.
	encode func(hotEvent) []byte

	mu        sync.Mutex
	events    [][]hotEvent       // per key, by seq: every event made
	want      []int              // per key: the seq of the newest event, -1: none
	seen      []stored           // per key: what the sampler saw last
	epoch     int                // counts lost(): a sample taken across one is dropped
	problems  []string           // what the sampler found wrong
	more      int                // problems not kept in problems
	samples   int                // rounds that read Redis
	changes   int                // values the sampler saw change
	redisAddr string             // where watch reads
	dialOpts  []redis.DialOption // and how
	conn      redis.Conn         // the sampler's connection, nil when it has none
	stop      chan struct{}      // closed to stop the sampler
	done      chan struct{}      // closed when it stopped
	timeField string             // the hidden event-time field of hotMaterialization
}

// stored is what Redis holds for one hot key.
type stored struct {
	ok    bool  // the key holds feature val
	value int64 // feature val
	time  int64 // the hidden event-time field; 0 with ordering arrival
}

// newHotKeys returns n hot keys on topic. Event times start a day before
// now (well inside max_future_skew).
func newHotKeys(topic string, partitions, n int) *hotKeys {
	h := &hotKeys{
		topic: topic, partitions: partitions, n: n,
		base:      time.Now().Add(-24 * time.Hour).Truncate(time.Second).UnixMilli(),
		events:    make([][]hotEvent, n),
		want:      make([]int, n),
		seen:      make([]stored, n),
		timeField: sink.TimeField(hotMaterialization),
	}
	for k := range h.want {
		h.want[k] = -1
	}
	return h
}

// eventTime is the event time of a key's event seq. Events come newest
// first within blocks of 4, each block newer than the one before, and
// every 5th (seq%5 == 3) is a late event, older than all of its key's
// events before it: in and out of order, and never two events of a key at
// the same time.
func (h *hotKeys) eventTime(seq int) int64 {
	if seq%5 == 3 {
		return h.base - int64(seq+1)*1000
	}
	return h.base + int64(seq/4*4+3-seq%4)*1000
}

// partitionOf is the partition of key k's events.
func (h *hotKeys) partitionOf(k int) int32 { return int32(k % h.partitions) }

// keysOf returns the keys on the given partitions.
func (h *hotKeys) keysOf(partitions ...int32) []int {
	var keys []int
	for k := range h.n {
		for _, p := range partitions {
			if h.partitionOf(k) == p {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// next makes n more events, to keys in turn (every key when keys is
// empty), and expects them in Redis from now on.
func (h *hotKeys) next(n int, keys ...int) []hotEvent {
	if len(keys) == 0 {
		for k := range h.n {
			keys = append(keys, k)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	evs := make([]hotEvent, n)
	for i := range evs {
		k := keys[i%len(keys)]
		seq := len(h.events[k])
		e := hotEvent{key: k, seq: seq, time: h.eventTime(seq), partition: h.partitionOf(k), offset: -1}
		h.events[k] = append(h.events[k], e)
		if w := h.want[k]; w < 0 || h.newer(e, h.events[k][w]) {
			h.want[k] = seq
		}
		evs[i] = e
	}
	return evs
}

// newer reports whether a replaces b in Redis: it is newer in event time,
// or with ordering arrival produced later.
func (h *hotKeys) newer(a, b hotEvent) bool {
	if h.arrival {
		return a.seq > b.seq
	}
	return a.time > b.time
}

// messageValue is the message value of e: JSON, or what encode makes.
func (h *hotKeys) messageValue(e hotEvent) []byte {
	if h.encode != nil {
		return h.encode(e)
	}
	b := fmt.Appendf(nil, `{"id": %d, "seq": %d, "ts": %d`, e.key, e.seq, e.time)
	if h.pad > 0 {
		b = fmt.Appendf(b, `, "pad": "%s"`, bytes.Repeat([]byte{'a' + byte(e.seq%26)}, h.pad))
	}
	return append(b, '}')
}

// messages returns events as messages to their partitions, keyed by id.
func (h *hotKeys) messages(evs []hotEvent) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, len(evs))
	for i, e := range evs {
		msgs[i] = &sarama.ProducerMessage{
			Topic: h.topic, Partition: e.partition,
			Key:      sarama.StringEncoder(strconv.Itoa(e.key)),
			Value:    sarama.ByteEncoder(h.messageValue(e)),
			Metadata: [2]int{e.key, e.seq},
		}
	}
	return msgs
}

// produced records the offsets of messages the broker acknowledged.
func (h *hotKeys) produced(msgs []*sarama.ProducerMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		id := m.Metadata.([2]int)
		h.events[id[0]][id[1]].offset = m.Offset
	}
}

// produce produces n more events (to keys, every key when empty) with
// acks from all replicas.
func (h *hotKeys) produce(t *testing.T, brokers string, n int, keys ...int) {
	t.Helper()
	msgs := h.messages(h.next(n, keys...))
	produceMessages(t, brokers, msgs)
	h.produced(msgs)
}

// send is produce through the caller's producer, for a goroutine.
func (h *hotKeys) send(p sarama.SyncProducer, n int, keys ...int) error {
	msgs := h.messages(h.next(n, keys...))
	if err := p.SendMessages(msgs); err != nil {
		return err
	}
	h.produced(msgs)
	return nil
}

// expected returns, per key, the seq of the event Redis must hold now
// (-1: none).
func (h *hotKeys) expected() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.want...)
}

// lost tells the check that Redis lost its data (a server without
// persistence restarted): what was seen is forgotten, and only events
// made from now on are expected.
func (h *hotKeys) lost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch++
	for k := range h.want {
		h.want[k] = -1
		h.seen[k] = stored{}
	}
}

// watch starts the sampler: every 100 ms it reads every key from Redis at
// addr and checks each value against what it saw before, until check. A
// round that Redis does not answer (down, hung) is skipped.
func (h *hotKeys) watch(t *testing.T, addr string, opts ...redis.DialOption) {
	t.Helper()
	h.redisAddr, h.dialOpts = addr, opts
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.sample()
	t.Cleanup(h.stopSampling)
}

// setPassword makes the sampler and the checks authenticate with
// password from now on.
func (h *hotKeys) setPassword(password string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dialOpts = append(h.dialOpts, redis.DialPassword(password))
}

func (h *hotKeys) sample() {
	defer close(h.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			h.mu.Lock()
			if h.conn != nil {
				h.conn.Close()
				h.conn = nil
			}
			h.mu.Unlock()
			return
		case <-tick.C:
		}
		h.mu.Lock()
		epoch, c := h.epoch, h.conn
		h.mu.Unlock()
		if c == nil {
			var err error
			c, err = h.dial(500*time.Millisecond, time.Second)
			if err != nil {
				continue
			}
		}
		got, err := h.readAll(c)
		h.mu.Lock()
		if err != nil {
			c.Close()
			h.conn = nil
			h.mu.Unlock()
			continue
		}
		h.conn = c
		if epoch == h.epoch {
			h.samples++
			h.observe(got)
		}
		h.mu.Unlock()
	}
}

// stopSampling stops the sampler, if it runs, and waits for it.
func (h *hotKeys) stopSampling() {
	if h.stop == nil {
		return
	}
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// dial connects to the Redis that watch reads.
func (h *hotKeys) dial(connect, read time.Duration) (redis.Conn, error) {
	h.mu.Lock()
	opts := append([]redis.DialOption{redis.DialConnectTimeout(connect), redis.DialReadTimeout(read), redis.DialWriteTimeout(read)}, h.dialOpts...)
	addr := h.redisAddr
	h.mu.Unlock()
	return redis.Dial("tcp", addr, opts...)
}

// readAll reads feature val and the event-time field of every key, in one
// round trip.
func (h *hotKeys) readAll(c redis.Conn) ([]stored, error) {
	for k := range h.n {
		c.Send("HMGET", hotTable+":"+strconv.Itoa(k), "val", h.timeField)
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	out := make([]stored, h.n)
	for k := range out {
		vals, err := redis.Values(c.Receive())
		if err != nil {
			return nil, err
		}
		if len(vals) != 2 || vals[0] == nil {
			continue
		}
		b, _ := vals[0].([]byte)
		v, err := sink.DecodeValue(b)
		if err != nil {
			out[k] = stored{ok: true, value: -1}
			continue
		}
		n, _ := v.(int64)
		out[k] = stored{ok: true, value: n}
		if tb, ok := vals[1].([]byte); ok {
			out[k].time, _ = strconv.ParseInt(string(tb), 10, 64)
		}
	}
	return out, nil
}

// observe checks one round of reads against what was produced and what
// was seen before. h.mu is held.
func (h *hotKeys) observe(got []stored) {
	for k, s := range got {
		prev := h.seen[k]
		if !s.ok {
			if prev.ok {
				h.problem("key %d vanished: it held %s", k, h.describe(k, prev))
			}
			continue
		}
		e, ok := h.eventOf(k, s)
		if !ok {
			h.problem("key %d holds %s, which is no event produced to it", k, h.describe(k, s))
			continue
		}
		if prev.ok {
			if p, ok := h.eventOf(k, prev); ok && h.newer(p, e) {
				h.problem("key %d went back from %v to the older %v", k, p, e)
			}
			if prev != s {
				h.changes++
			}
		}
		h.seen[k] = s
	}
}

// eventOf returns the event whose value s holds, checking that the
// event-time field is that event's (ordering event).
func (h *hotKeys) eventOf(k int, s stored) (hotEvent, bool) {
	seq := s.value - int64(k)*1_000_000
	if seq < 0 || seq >= int64(len(h.events[k])) {
		return hotEvent{}, false
	}
	e := h.events[k][seq]
	if !h.arrival && s.time != e.time {
		return hotEvent{}, false
	}
	return e, true
}

// describe prints what a key holds.
func (h *hotKeys) describe(k int, s stored) string {
	if !s.ok {
		return "nothing"
	}
	if h.arrival {
		return fmt.Sprintf("value %d", s.value)
	}
	return fmt.Sprintf("value %d at event time %d", s.value, s.time)
}

// problem records what the sampler found wrong. h.mu is held.
func (h *hotKeys) problem(format string, args ...any) {
	if len(h.problems) < 20 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	} else {
		h.more++
	}
}

// read reads every key now, failing the test when Redis does not answer.
func (h *hotKeys) read(t *testing.T) []stored {
	t.Helper()
	c, err := h.dial(2*time.Second, 10*time.Second)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.Close()
	got, err := h.readAll(c)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	return got
}

// mismatches lists the keys whose value is not that of want's event
// (absent where want is -1, whatever with anything); with atLeast, a newer
// event's value also does, and -1 accepts anything.
func (h *hotKeys) mismatches(got []stored, want []int, atLeast bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	for k, s := range got {
		if want[k] == anything {
			continue
		}
		if want[k] < 0 {
			if s.ok && !atLeast {
				bad = append(bad, fmt.Sprintf("key %d holds %s, want nothing", k, h.describe(k, s)))
			}
			continue
		}
		w := h.events[k][want[k]]
		e, ok := h.eventOf(k, s)
		switch {
		case !s.ok:
			bad = append(bad, fmt.Sprintf("key %d holds nothing, want %v", k, w))
		case !ok:
			bad = append(bad, fmt.Sprintf("key %d holds %s, no event of it; want %v", k, h.describe(k, s), w))
		case e != w && !(atLeast && h.newer(e, w)):
			bad = append(bad, fmt.Sprintf("key %d holds %v, want %v", k, e, w))
		}
	}
	return bad
}

// holds reports whether each of keys (every key when empty) holds its
// expected event now.
func (h *hotKeys) holds(keys []int) bool {
	c, err := h.dial(time.Second, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	got, err := h.readAll(c)
	return err == nil && len(h.mismatches(got, h.only(h.expected(), keys), false)) == 0
}

// only returns want with the keys not in keys (when there are any) not
// checked: want of a key that holds anything, at least nothing.
func (h *hotKeys) only(want []int, keys []int) []int {
	if len(keys) == 0 {
		return want
	}
	out := make([]int, len(want))
	for k := range out {
		out[k] = anything
	}
	for _, k := range keys {
		out[k] = want[k]
	}
	return out
}

// anything in a want of mismatches accepts whatever a key holds.
const anything = -2

// waitNewest waits until each of keys (every key when empty) holds the
// value of its newest event so far, failing the test with what after
// timeout.
func (h *hotKeys) waitNewest(t *testing.T, timeout time.Duration, what string, keys ...int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !h.holds(keys) {
		if time.Now().After(deadline) {
			want := h.only(h.expected(), keys)
			c, err := h.dial(time.Second, 2*time.Second)
			if err != nil {
				t.Fatalf("after %v: %s: redis: %v", timeout, what, err)
			}
			got, err := h.readAll(c)
			c.Close()
			if err != nil {
				t.Fatalf("after %v: %s: redis: %v", timeout, what, err)
			}
			t.Fatalf("after %v: %s:\n%s", timeout, what, strings.Join(h.mismatches(got, want, false), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// check stops the sampler and fails the test unless no value ever went
// back while it sampled and every key holds the value of its newest
// event now.
func (h *hotKeys) check(t *testing.T) {
	t.Helper()
	h.checkWant(t, h.expected())
}

// checkWant is check against want, per key the seq of the event it must
// hold (-1: nothing), e.g. the expected events of an earlier moment.
func (h *hotKeys) checkWant(t *testing.T, want []int) {
	t.Helper()
	h.stopSampling()
	got := h.read(t)
	h.mu.Lock()
	h.observe(got)
	problems, more, samples, changes := h.problems, h.more, h.samples, h.changes
	h.mu.Unlock()
	t.Logf("value check: %d keys, %d events, %d samples of every key, %d changes seen", h.n, h.count(), samples, changes)
	if h.stop != nil && samples == 0 {
		t.Errorf("the sampler never read Redis")
	}
	if len(problems) > 0 {
		shown := ""
		if more > 0 {
			shown = fmt.Sprintf(" (%d more not shown)", more)
		}
		t.Errorf("values went wrong while the drill ran%s:\n%s", shown, strings.Join(problems, "\n"))
	}
	if bad := h.mismatches(got, want, false); len(bad) > 0 {
		t.Errorf("%d of %d keys do not hold the value of their newest event:\n%s", len(bad), h.n, strings.Join(bad, "\n"))
	}
}

// checkAtLeast fails the test unless each key holds want's event or a
// newer one (-1: anything), e.g. what it held before an outage.
func (h *hotKeys) checkAtLeast(t *testing.T, want []int, what string) {
	t.Helper()
	if bad := h.mismatches(h.read(t), want, true); len(bad) > 0 {
		t.Errorf("%s, keys hold older values than before:\n%s", what, strings.Join(bad, "\n"))
	}
}

// checkCommitted fails the test unless everything committed is written:
// each key holds its event that is newest among those below its
// partition's committed offset, or a newer one.
func (h *hotKeys) checkCommitted(t *testing.T, committed map[int32]int64) {
	t.Helper()
	h.mu.Lock()
	want := make([]int, h.n)
	for k, evs := range h.events {
		want[k] = -1
		for _, e := range evs {
			if e.offset >= 0 && e.offset < committed[e.partition] && (want[k] < 0 || h.newer(e, evs[want[k]])) {
				want[k] = e.seq
			}
		}
	}
	h.mu.Unlock()
	h.checkAtLeast(t, want, fmt.Sprintf("committed offsets %v are ahead of what Redis holds", committed))
}

// count is the number of events made.
func (h *hotKeys) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, evs := range h.events {
		n += len(evs)
	}
	return n
}
