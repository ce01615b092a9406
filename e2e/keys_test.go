package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// oddKeys are entity keys with the characters that could break a Redis
// key, a command line or an output format: the key separators ':' and
// '#', a newline, a tab and spaces, a comma, non-UTF-8 bytes, non-ASCII
// text, and the empty string.
var oddKeys = []string{"a:b", "x#y", "line1\nline2", "tab\tsp ace", "c,d", "\xff\xfe", "ünï", ""}

// oddKeySchema is the Avro schema of the events of TestOddKeys.
const oddKeySchema = `{"type": "record", "name": "K", "fields": [
  {"name": "id", "type": "string"},
  {"name": "tag", "type": "string"},
  {"name": "n", "type": "long"}]}`

// oddKeyEvent encodes {id, tag, n} in plain Avro binary by hand, so that
// id may hold bytes that are not UTF-8.
func oddKeyEvent(id, tag string, n int64) []byte {
	var b []byte
	for _, s := range []string{id, tag} {
		b = binary.AppendVarint(b, int64(len(s)))
		b = append(b, s...)
	}
	return binary.AppendVarint(b, n)
}

// TestOddKeys materializes events whose keys hold separators, newlines
// and non-UTF-8 bytes, under a single and a composite key, and reads them
// back with feathr get and multi-get: each key is its own Redis key and
// gives back its own features.
func TestOddKeys(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 1)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", fmt.Sprintf(`sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: %q}
    schema: |
      %s
keys:
  id: {column: id, type: STRING}
  tag: {column: tag, type: STRING}
anchors:
  single:
    source: s
    key: [id]
    features:
      fs: {type: INT64, transform: "n + 1"}
      fname: {type: STRING, transform: "id"}
  pair:
    source: s
    key: [id, tag]
    features:
      fp: {type: INT64, transform: "n * 2"}
online_store:
  redis: {addr: %q}
materializations:
  ms:
    sink: {redis: {table: keys_single}}
    features: [fs, fname]
  mp:
    sink: {redis: {table: keys_pair}}
    features: [fp]
`, brokers, topic, group, strings.ReplaceAll(oddKeySchema, "\n", "\n      "), redisAddr))

	var msgs []*sarama.ProducerMessage
	for i, id := range oddKeys {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(oddKeyEvent(id, "t:"+id, int64(i)))})
	}
	produceMessages(t, brokers, msgs)
	r := feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	checkSummary(t, r, wantSummary{read: int64(len(oddKeys)), written: 2 * int64(len(oddKeys)), stopped: "caught-up"})

	// Redis holds one hash per key and table, named exactly.
	c, err := redis.Dial("tcp", redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := redis.Strings(c.Do("KEYS", "*"))
	if err != nil {
		t.Fatal(err)
	}
	got, want := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		got[fmt.Sprintf("%q", k)] = true
	}
	for _, id := range oddKeys {
		want[fmt.Sprintf("%q", "keys_single:"+id)] = true
		want[fmt.Sprintf("%q", "keys_pair:"+id+"#t:"+id)] = true
	}
	checkEqual(t, "Redis keys", got, want)

	for i, id := range oddKeys {
		// The stored string is the key's bytes, exactly.
		b, err := redis.Bytes(c.Do("HGET", "keys_single:"+id, "fname"))
		if err != nil {
			t.Fatalf("HGET %q: %v", id, err)
		}
		if v, err := sink.DecodeValue(b); err != nil || v != id {
			t.Errorf("fname of %q is %q (%v)", id, v, err)
		}
		// feathr get takes the key as one argument, whatever it holds.
		checkEqual(t, fmt.Sprintf("get %q", id), getFeatures(t, redisAddr, "keys_single", id, []string{"fs", "fname"}),
			map[string]any{"fs": i + 1, "fname": id})
		checkEqual(t, fmt.Sprintf("get pair %q", id), getFeatures(t, redisAddr, "keys_pair", id+"#t:"+id, []string{"fp"}),
			map[string]any{"fp": 2 * i})
	}

	// multi-get reads one key per line of stdin: every key without a
	// newline, each answered under its own name (JSON strings hold only
	// UTF-8, so a non-UTF-8 key is printed with U+FFFD for its bad bytes).
	var lines []string
	wantMulti := map[string]map[string]any{}
	for i, id := range oddKeys {
		if strings.Contains(id, "\n") || id == "" {
			continue
		}
		lines = append(lines, id)
		wantMulti[id] = map[string]any{"fs": i + 1}
	}
	checkEqual(t, "multi-get", multiGet(t, redisAddr, "keys_single", lines, []string{"fs"}), wantMulti)
}
