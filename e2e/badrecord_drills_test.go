package e2e

// The drills of bad records: oversized values and future event times, under each policy.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestBadRecordOversized sends a 2 MiB record, over the default
// max_record_bytes (1 MiB), between events of hot keys, under each
// on_error policy (the topics take messages of up to 8 MiB): skip counts
// it and goes on; dead-letter produces it, the same bytes with the
// feathr.* headers; stop exits 1 naming topic/partition@offset, committed
// exactly up to the record. The keys hold the values of their newest
// events (before the record, with stop).
func TestBadRecordOversized(t *testing.T) {
	t.Parallel()
	value := func(h *hotKeys) []byte {
		return fmt.Appendf(nil, `{"id": 0, "seq": 999999, "ts": %d, "pad": "%s"}`, h.base+1e6, strings.Repeat("x", 2<<20))
	}
	testBadRecordPolicies(t, "message too large", value)
}

// TestBadRecordFutureTime sends an event time of the year 3000, and one in
// microseconds read as milliseconds (year ~58,000), between events of hot
// keys, under each on_error policy: each is a bad record (further ahead
// than max_future_skew, 1 h by default) with the checks of
// TestBadRecordOversized, and its key's value is not frozen: the events
// after it still update the key (with skip and dead-letter).
func TestBadRecordFutureTime(t *testing.T) {
	t.Parallel()
	year3000 := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	value := func(h *hotKeys) []byte {
		return fmt.Appendf(nil, `{"id": 0, "seq": 999999, "ts": %d}`, year3000)
	}
	micros := func(h *hotKeys) []byte {
		return fmt.Appendf(nil, `{"id": 1, "seq": 999999, "ts": %d}`, time.Now().UnixMicro())
	}
	testBadRecordPolicies(t, "ahead of the clock", value, micros)
}

// testBadRecordPolicies produces 20 events of 4 hot keys to one
// partition, then the bad records that values make (keys 0, 1, ...), then
// 20 more events, and runs materialize --until-caught-up under each
// on_error policy. reason is in the error of each bad record.
func testBadRecordPolicies(t *testing.T, reason string, values ...func(*hotKeys) []byte) {
	brokers := testenv.Kafka(t)
	big := map[string]string{"max.message.bytes": strconv.Itoa(8 << 20)}
	for _, policy := range []string{"skip", "dead-letter", "stop"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			redisAddr := testenv.Redis(t)
			topic := testenv.TopicName(t)
			testenv.CreateTopicWith(t, brokers, topic, 1, big)
			group := "feathr-e2e-" + topic
			mat := "on_error: " + policy
			dlTopic := topic + "-dl"
			if policy == "dead-letter" {
				testenv.CreateTopicWith(t, brokers, dlTopic, 1, big)
				mat += "\ndead_letter: " + dlTopic
			}
			cfg := writeFile(t, "features.yaml", hotConfig(brokers, topic, group, redisAddr, hotOptions{mat: mat}))
			h := newHotKeys(topic, 1, 4)
			h.watch(t, redisAddr)
			h.produce(t, brokers, 20)
			before := h.expected()
			var bad []*sarama.ProducerMessage
			for i, v := range values {
				bad = append(bad, &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(strconv.Itoa(i)),
					Value: sarama.ByteEncoder(v(h)), Headers: []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("test")}}})
			}
			produceMessages(t, brokers, bad)
			h.produce(t, brokers, 20)
			nBad := int64(len(bad))
			total := 40 + nBad
			first := bad[0].Offset

			r := feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
			s := parseSummary(t, r)
			for _, m := range bad {
				where := fmt.Sprintf("topic=%s partition=0 offset=%d ", topic, m.Offset)
				n := logLines(r.stderr, where)
				if policy == "stop" && m.Offset != first {
					if n != 0 {
						t.Errorf("stderr names %q, after the stop:\n%s", where, r.stderr)
					}
					continue
				}
				if n != 1 {
					t.Errorf("stderr has %d lines with %q, want 1:\n%s", n, where, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, reason) {
				t.Errorf("stderr does not say %q:\n%s", reason, r.stderr)
			}
			switch policy {
			case "skip", "dead-letter":
				if r.code != 0 {
					t.Fatalf("materialize: %s", r)
				}
				var dead int64
				if policy == "dead-letter" {
					dead = nBad
				}
				if s.Read != total || s.Written != 40 || s.Errors != nBad || s.Skipped != nBad-dead || s.DeadLettered != dead || s.Stopped != "caught-up" {
					t.Errorf("summary %+v: want %d read, 40 written, %d errors, %d skipped, %d dead-lettered, caught-up", s, total, nBad, nBad-dead, dead)
				}
				checkCommittedAtEnd(t, brokers, group, topic, 1, total)
				after := h.expected()
				for k := range bad {
					if after[k] == before[k] {
						t.Fatalf("key %d has no newer event after its bad record: the drill cannot show the key goes on", k)
					}
				}
				h.check(t) // the keys of the bad records hold their events after them
			case "stop":
				if r.code != 1 {
					t.Fatalf("exit %d, want 1\n%s", r.code, r)
				}
				wantErr := fmt.Sprintf("%s/0@%d: ", topic, first)
				if s.Stopped != "error" || !strings.HasPrefix(s.Error, wantErr) || !strings.Contains(s.Error, reason) || s.Errors != 1 || s.Written != 20 {
					t.Errorf("summary %+v: want stopped error %q...%q, 1 record error, 20 written", s, wantErr, reason)
				}
				if got := committedOffsets(t, brokers, group, topic, 1); got[0] != first {
					t.Errorf("committed offset %d, want %d: exactly up to the bad record", got[0], first)
				}
				h.checkWant(t, before)
			}
			if policy != "dead-letter" {
				return
			}
			dl := consumeAll(t, brokers, dlTopic, len(bad))
			for i, m := range dl {
				orig := bad[i]
				want, _ := orig.Value.Encode()
				if string(m.Value) != string(want) || string(m.Key) != strconv.Itoa(i) {
					t.Errorf("dead letter %d: key %q, %d bytes; want the original: key %d, %d bytes", i, m.Key, len(m.Value), i, len(want))
				}
				hd := headerMap(m.Headers)
				wantH := map[string]string{"origin": "test", "feathr.topic": topic, "feathr.partition": "0", "feathr.offset": strconv.FormatInt(orig.Offset, 10)}
				for k, v := range wantH {
					if hd[k] != v {
						t.Errorf("dead letter %d: header %s = %q, want %q", i, k, hd[k], v)
					}
				}
				if !strings.Contains(hd["feathr.error"], reason) {
					t.Errorf("dead letter %d: header feathr.error = %q, want it to contain %q", i, hd["feathr.error"], reason)
				}
				if _, ok := hd["feathr.materialization"]; ok {
					t.Errorf("dead letter %d of a record that fails every materialization names one: %v", i, hd)
				}
			}
		})
	}
}
