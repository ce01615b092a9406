package testenv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaVersions are the protocol versions the group test runs with: the
// oldest that Kafka 4 still speaks, the one the team uses, and newer ones.
var saramaVersions = []sarama.KafkaVersion{
	sarama.V2_1_0_0,
	SaramaVersion,
	sarama.V3_9_0_0,
	sarama.V4_1_0_0,
}

func TestKafkaTopicName(t *testing.T) {
	a, b := TopicName(t), TopicName(t)
	if a == b {
		t.Errorf("TopicName returned %q twice", a)
	}
	valid := regexp.MustCompile(`^TestKafkaTopicName-[0-9a-f]{8}$`)
	if !valid.MatchString(a) {
		t.Errorf("TopicName = %q, want match of %v", a, valid)
	}
	t.Run("sub/test.with spaces", func(t *testing.T) {
		if got, valid := TopicName(t), regexp.MustCompile(`^[A-Za-z0-9_-]+$`); !valid.MatchString(got) {
			t.Errorf("TopicName = %q, want match of %v", got, valid)
		}
	})
}

func TestKafkaKFakeSaramaGroup(t *testing.T) {
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			topic := TopicName(t)
			brokers := KFake(t, 4, topic)
			testSaramaGroup(t, brokers, topic, v)
		})
	}
}

func TestKafkaKFakeCreateTopic(t *testing.T) {
	brokers := KFake(t, 1)
	topic := TopicName(t)
	CreateTopic(t, brokers, topic, 3)
	testSaramaGroup(t, brokers, topic, SaramaVersion)
}

func TestKafkaRealSaramaGroup(t *testing.T) {
	brokers := Kafka(t)
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			topic := TopicName(t)
			CreateTopic(t, brokers, topic, 4)
			testSaramaGroup(t, brokers, topic, v)
		})
	}
}

// testSaramaGroup produces 100 messages to topic, consumes 60 of them in a
// sarama consumer group and commits, then checks that the committed
// offsets add up to 60 and that a restarted group gets exactly the other
// 40.
func testSaramaGroup(t *testing.T, brokers, topic string, version sarama.KafkaVersion) {
	const total, first = 100, 60
	cfg := SaramaConfig()
	cfg.Version = version
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	addrs := splitBrokers(brokers)

	producer, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	for i := range total {
		msg := &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf("v%d", i)),
		}
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatalf("send message %d: %v", i, err)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("close producer: %v", err)
	}

	group := "g-" + topic
	seen := map[string]bool{}
	h1 := &limitHandler{limit: first, seen: seen}
	runGroup(t, addrs, group, topic, cfg, h1)
	if len(seen) != first {
		t.Fatalf("first run marked %d messages, want %d", len(seen), first)
	}

	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		t.Fatalf("new admin: %v", err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		t.Fatalf("list group offsets: %v", err)
	}
	var committed int64
	for _, p := range offsets.Blocks[topic] {
		if p.Err != sarama.ErrNoError {
			t.Fatalf("group offset: %v", p.Err)
		}
		if p.Offset > 0 {
			committed += p.Offset
		}
	}
	if committed != first {
		t.Errorf("committed offsets add up to %d, want %d", committed, first)
	}

	// The restarted group resumes from the commit: it must see exactly the
	// messages that the first run did not mark.
	rest := map[string]bool{}
	h2 := &limitHandler{limit: total - first, seen: rest}
	runGroup(t, addrs, group, topic, cfg, h2)
	for v := range rest {
		if seen[v] {
			t.Errorf("restarted group got %s again", v)
		}
		seen[v] = true
	}
	if len(seen) != total {
		t.Errorf("saw %d distinct messages in both runs, want %d", len(seen), total)
	}
}

// runGroup consumes topic in group with h until h cancels the context it is
// given, which it does after its limit; it fails the test after a minute.
func runGroup(t *testing.T, addrs []string, group, topic string, cfg *sarama.Config, h *limitHandler) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup(addrs, group, cfg)
	if err != nil {
		t.Fatalf("new consumer group: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h.cancel = cancel
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			t.Fatalf("consume: %v", err)
		}
	}
	if err := cg.Close(); err != nil {
		t.Fatalf("close consumer group: %v", err)
	}
	if h.err != nil {
		t.Fatal(h.err)
	}
	if !h.done {
		t.Fatalf("group consumed %d messages in a minute, want %d", len(h.seen), h.limit)
	}
}

// limitHandler marks the first limit messages it receives across all its
// claims, commits them, and then cancels the consuming context. Messages it
// receives after that stay unmarked, so each partition's committed offset
// covers exactly the prefix that it marked.
type limitHandler struct {
	limit  int
	seen   map[string]bool
	cancel context.CancelFunc

	mu   sync.Mutex
	done bool
	err  error
}

func (h *limitHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *limitHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *limitHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		if h.done {
			h.mu.Unlock()
			return nil
		}
		v := string(msg.Value)
		if h.seen[v] {
			h.err = fmt.Errorf("got %s twice in one run", v)
		}
		h.seen[v] = true
		sess.MarkMessage(msg, "")
		if len(h.seen) == h.limit {
			sess.Commit()
			h.done = true
			h.cancel()
		}
		h.mu.Unlock()
	}
	return nil
}

// TestKafkaRealCreateTopicWith creates a topic with a configuration
// override on the real broker and reads it back.
func TestKafkaRealCreateTopicWith(t *testing.T) {
	brokers := Kafka(t)
	topic := TopicName(t)
	CreateTopicWith(t, brokers, topic, 1, map[string]string{"max.message.bytes": "8388608"})
	admin, err := sarama.NewClusterAdmin(splitBrokers(brokers), SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"max.message.bytes"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Value != "8388608" {
		t.Errorf("max.message.bytes of %s: %+v, want 8388608", topic, entries)
	}
}
