package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// eventsSchema is the Avro schema of the JSON events of the bad-record
// tests: a nullable long id (an INT32 key), two longs and a nullable long.
const eventsSchema = `{"type": "record", "name": "E", "fields": [
  {"name": "id", "type": ["null", "long"]},
  {"name": "n", "type": "long"},
  {"name": "d", "type": "long"},
  {"name": "o", "type": ["null", "long"], "default": null}]}`

// eventsTable is the Redis table of eventsConfig.
const eventsTable = "events"

// eventsConfig reads JSON events from topic into table events, with
// features fd = d + 1 (INT32: a d beyond INT32 cannot be stored) and
// fg = n * d (INT64: can overflow) and fv = [d, o] (a vector: o must not
// be null), under the given on_error lines.
func eventsConfig(brokers, topic, group, redisAddr, onError string) string {
	return fmt.Sprintf(`sources:
  events:
    kafka: {brokers: [%q], topics: [%q], group: %q}
    format: json
    schema: |
      %s
keys:
  id: {column: id, type: INT32}
anchors:
  a:
    source: events
    key: [id]
    features:
      fd: {type: INT32, transform: "d + 1"}
      fg: {type: INT64, transform: "n * d"}
      fv: {type: INT64_VECTOR, transform: "[d, o]"}
online_store:
  redis: {addr: %q}
materializations:
  m:
    sink: {redis: {table: %s}}
    features: [fd, fg, fv]
%s`, brokers, topic, group, strings.ReplaceAll(eventsSchema, "\n", "\n      "), redisAddr, eventsTable, onError)
}

// goodEvent is event i of the bad-record tests, with key i.
func goodEvent(i int) []byte {
	return fmt.Appendf(nil, `{"id": %d, "n": %d, "d": 2, "o": 1}`, i, i)
}

// badRecordKinds are the kinds of bad record, each with a message that is
// one and the part of its reason the log line and dead-letter header carry.
var badRecordKinds = []struct {
	name   string
	value  string
	reason string
	target bool // the failure is a materialization's (else the whole record's)
}{
	{"undecodable bytes", "\xff\xfe{not json", "decode: ", false},
	{"schema mismatch", `{"id": 5, "n": "many", "d": 2}`, `decode: `, false},
	{"missing required field", `{"id": 5, "d": 2}`, `missing field`, false},
	{"transform overflow", `{"id": 5, "n": 4611686018427387904, "d": 4, "o": 1}`, "integer overflow", true},
	{"value out of range", `{"id": 5, "n": 1, "d": 1099511627776, "o": 1}`, "out of range", true},
	{"null where a value is needed", `{"id": 5, "n": 5, "d": 2}`, "cannot convert element 1 to INT64_VECTOR: null", true},
	{"key out of range", `{"id": 1099511627776, "n": 5, "d": 2, "o": 1}`, "overflows INT32", true},
}

// TestBadRecords drives every kind of bad record through every on_error
// policy against the real broker: ten events on one partition, the one at
// offset 5 bad. skip goes on, logs the record once and counts it;
// dead-letter produces the original message, with headers naming reason
// and origin, to the dead-letter topic; stop exits 1 having committed
// exactly offset 5 and written only the records before it.
func TestBadRecords(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	for _, kind := range badRecordKinds {
		for _, policy := range []string{"skip", "dead-letter", "stop"} {
			t.Run(kind.name+"/"+policy, func(t *testing.T) {
				t.Parallel()
				redisAddr := testenv.Redis(t)
				topic := testenv.TopicName(t)
				testenv.CreateTopic(t, brokers, topic, 1)
				group := "feathr-e2e-" + topic
				onError := "    on_error: " + policy + "\n"
				dlTopic := topic + "-dl"
				if policy == "dead-letter" {
					testenv.CreateTopic(t, brokers, dlTopic, 1)
					onError += "    dead_letter: " + dlTopic + "\n"
				}
				cfg := writeFile(t, "features.yaml", eventsConfig(brokers, topic, group, redisAddr, onError))

				var msgs []*sarama.ProducerMessage
				for i := range 10 {
					m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder("k" + strconv.Itoa(i)),
						Value: sarama.ByteEncoder(goodEvent(i))}
					if i == 5 {
						m.Value = sarama.StringEncoder(kind.value)
						m.Headers = []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("test")}}
					}
					msgs = append(msgs, m)
				}
				produceMessages(t, brokers, msgs)

				r := feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
				s := parseSummary(t, r)
				where := fmt.Sprintf("topic=%s partition=0 offset=5 ", topic)
				switch policy {
				case "skip", "dead-letter":
					if r.code != 0 {
						t.Fatalf("materialize: %s", r)
					}
					var dead int64
					if policy == "dead-letter" {
						dead = 1
					}
					if s.Read != 10 || s.Written != 9 || s.Errors != 1 || s.Skipped != 1-dead || s.DeadLettered != dead || s.Stopped != "caught-up" {
						t.Errorf("summary %+v: want 10 read, 9 written, 1 error, %d skipped, %d dead-lettered, caught-up", s, 1-dead, dead)
					}
					if n := logLines(r.stderr, where); n != 1 || !strings.Contains(r.stderr, kind.reason) {
						t.Errorf("stderr has %d lines with %q, want 1 with %q:\n%s", n, where, kind.reason, r.stderr)
					}
					checkCommittedAtEnd(t, brokers, group, topic, 1, 10)
					checkKeys(t, redisAddr, 0, 1, 2, 3, 4, 6, 7, 8, 9)
				case "stop":
					if r.code != 1 {
						t.Fatalf("exit %d, want 1\n%s", r.code, r)
					}
					wantErr := fmt.Sprintf("%s/0@5: ", topic)
					if s.Stopped != "error" || !strings.HasPrefix(s.Error, wantErr) || !strings.Contains(s.Error, kind.reason) || s.Errors != 1 || s.Written != 5 {
						t.Errorf("summary %+v: want stopped error %q...%q, 1 record error, 5 written", s, wantErr, kind.reason)
					}
					if !strings.Contains(r.stderr, where) || !strings.HasSuffix(r.stderr, "\n") {
						t.Errorf("stderr does not name %q:\n%s", where, r.stderr)
					}
					if got := committedOffsets(t, brokers, group, topic, 1); got[0] != 5 {
						t.Errorf("committed offset %d, want 5: exactly up to the record before the bad one", got[0])
					}
					checkKeys(t, redisAddr, 0, 1, 2, 3, 4)
				}
				if policy != "dead-letter" {
					return
				}
				dl := consumeAll(t, brokers, dlTopic, 1)
				m := dl[0]
				if string(m.Value) != kind.value || string(m.Key) != "k5" {
					t.Errorf("dead letter key %q value %q, want the original k5 %q", m.Key, m.Value, kind.value)
				}
				h := headerMap(m.Headers)
				want := map[string]string{"origin": "test", "feathr.topic": topic, "feathr.partition": "0", "feathr.offset": "5"}
				if kind.target {
					want["feathr.materialization"] = "m"
				}
				for k, v := range want {
					if h[k] != v {
						t.Errorf("dead letter header %s = %q, want %q (headers %v)", k, h[k], v, h)
					}
				}
				if _, ok := h["feathr.materialization"]; ok && !kind.target {
					t.Errorf("dead letter of a record that failed to decode names a materialization: %v", h)
				}
				if !strings.Contains(h["feathr.error"], kind.reason) {
					t.Errorf("dead letter header feathr.error = %q, want it to contain %q", h["feathr.error"], kind.reason)
				}
			})
		}
	}
}

// TestBadRecordFlood sends 10,000 bad records between good ones: all are
// counted and skipped, and the log stays a few lines long.
func TestBadRecordFlood(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 2)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", eventsConfig(brokers, topic, group, redisAddr, ""))
	const bad, good = 10000, 10
	var msgs []*sarama.ProducerMessage
	for i := range bad + good {
		v := sarama.ByteEncoder([]byte("\x00garbage " + strconv.Itoa(i)))
		if i%(bad/good+1) == 0 {
			v = goodEvent(i / (bad/good + 1))
		}
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Value: v})
	}
	produceMessages(t, brokers, msgs)

	r := feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	s := parseSummary(t, r)
	if r.code != 0 || s.Read != bad+good || s.Errors != bad || s.Skipped != bad || s.Written != good {
		t.Fatalf("summary %+v: want %d read, %d errors skipped, %d written\n%s", s, bad+good, bad, good, r.stderr)
	}
	lines := strings.Count(r.stderr, "\n")
	t.Logf("%d bad records: %d log lines", bad, lines)
	// At most 10 bad-record lines per 10 s, a line on what was held back,
	// and the run's own few lines.
	if lines > 30 {
		t.Errorf("%d bad records gave %d log lines, want at most 30:\n%s", bad, lines, r.stderr)
	}
	checkCommittedAtEnd(t, brokers, group, topic, 2, bad+good)
	checkKeys(t, redisAddr, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
}

// produceMessages produces msgs synchronously, with acks from all
// replicas.
func produceMessages(t *testing.T, brokers string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	cfg := testenv.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	// A record over sarama's default limit (1 MB, which also bounds a
	// batch, within the broker's default) is the broker's to refuse: the
	// topic's max.message.bytes. Its batches may then be as large.
	for _, m := range msgs {
		if m.Value != nil && m.Value.Length() > cfg.Producer.MaxMessageBytes/2 {
			cfg.Producer.MaxMessageBytes = 16 << 20
			break
		}
	}
	p, err := sarama.NewSyncProducer(strings.Split(brokers, ","), cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 1000)
		if err := p.SendMessages(msgs[:n]); err != nil {
			t.Fatalf("produce: %v", err)
		}
		msgs = msgs[n:]
	}
}

// consumeAll reads partition 0 of topic from the start until it holds
// want messages, failing the test when it holds another number.
func consumeAll(t *testing.T, brokers, topic string, want int) []*sarama.ConsumerMessage {
	t.Helper()
	hw := highWatermarks(t, brokers, topic, 1)[0]
	if hw != int64(want) {
		t.Fatalf("topic %s holds %d messages, want %d", topic, hw, want)
	}
	c, err := sarama.NewConsumer(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s: %v", topic, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(out) < want {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("read %d of %d messages of %s in 30s", len(out), want, topic)
		}
	}
	return out
}

// headerMap returns a message's headers by key.
func headerMap(hs []*sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

// logLines counts the lines of stderr that contain s.
func logLines(stderr, s string) int {
	n := 0
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// checkKeys fails the test unless Redis holds exactly the keys of the
// events table for the given ids, each with both features.
func checkKeys(t *testing.T, redisAddr string, ids ...int) {
	t.Helper()
	c, err := redis.Dial("tcp", redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := redis.Strings(c.Do("KEYS", "*"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[eventsTable+":"+strconv.Itoa(id)] = true
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k] = true
	}
	checkEqual(t, "keys in Redis", got, want)
	for k := range want {
		if n, err := redis.Int(c.Do("HEXISTS", k, "fd")); err != nil || n != 1 {
			t.Errorf("%s has no feature fd (%v)", k, err)
		}
	}
}
