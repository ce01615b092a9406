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
		timeField: sink.HiddenTimeField(hotMaterialization),
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
