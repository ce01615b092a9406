package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Environment variables that connect tests to the real Kafka broker.
const (
	// KafkaBrokersEnv names the variable holding the real broker's
	// comma-separated bootstrap addresses, as printed by
	// `scripts/kafka.sh start`.
	KafkaBrokersEnv = "FEATHR_KAFKA_BROKERS"

	// RequireKafkaEnv names the variable that, set to "1", makes [Kafka]
	// fail instead of skip when no broker is configured. CI sets it so
	// that the suite against the real broker can never silently skip.
	RequireKafkaEnv = "FEATHR_REQUIRE_KAFKA"
)

// SaramaVersion is the protocol version that feathr's tests give sarama. It
// is sarama's own default (2.8): every request sarama sends at that version
// is accepted both by Apache Kafka 4.x, which dropped the protocol versions
// older than Kafka 2.1, and by kfake.
var SaramaVersion = sarama.V2_8_0_0

// dialTimeout bounds the reachability check of a configured broker.
const dialTimeout = 3 * time.Second

// Kafka returns the bootstrap address ("host:port", or several separated by
// commas) of the real Apache Kafka broker named by FEATHR_KAFKA_BROKERS.
//
// When the variable is unset, Kafka skips the test with a hint on how to
// start a broker, unless FEATHR_REQUIRE_KAFKA=1, in which case it fails the
// test. It also fails the test when no configured address accepts a
// connection.
func Kafka(t testing.TB) string {
	t.Helper()
	brokers := strings.TrimSpace(os.Getenv(KafkaBrokersEnv))
	if brokers == "" {
		const how = "run `scripts/kafka.sh start`, then set " + KafkaBrokersEnv + "=127.0.0.1:9192"
		if os.Getenv(RequireKafkaEnv) == "1" {
			t.Fatalf("testenv: %s=1 but %s is unset: %s", RequireKafkaEnv, KafkaBrokersEnv, how)
		}
		t.Skipf("testenv: no real Kafka broker (%s unset): %s", KafkaBrokersEnv, how)
	}
	var errs []error
	for _, addr := range splitBrokers(brokers) {
		conn, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err == nil {
			conn.Close()
			return brokers
		}
		errs = append(errs, err)
	}
	t.Fatalf("testenv: %s=%s, but no broker answers (is `scripts/kafka.sh start` running?): %v",
		KafkaBrokersEnv, brokers, errors.Join(errs...))
	return ""
}

// SaramaConfig returns a sarama configuration suited to tests against
// both the real broker and kfake: protocol version [SaramaVersion],
// producers that report successes, and consumers that start at the oldest
// offset of a partition that their group has not committed yet.
func SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = SaramaVersion
	cfg.ClientID = "feathr-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

// TopicName returns a topic name unique to this run of the test: the test's
// name, reduced to the characters that Kafka allows, and a random suffix.
func TopicName(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			// '.' and '_' collide in Kafka's metric names; use only '_'.
			b.WriteByte('_')
		}
	}
	name := b.String()
	// Kafka allows 249 characters; keep room for the suffix.
	if len(name) > 200 {
		name = name[:200]
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatalf("testenv: random topic suffix: %v", err)
	}
	return name + "-" + hex.EncodeToString(suffix)
}

// CreateTopic creates topic with the given number of partitions and one
// replica on brokers (a bootstrap list as returned by [Kafka] or [KFake]),
// waits until every partition has a leader, and deletes the topic when the
// test ends. It fails the test on error.
func CreateTopic(t testing.TB, brokers string, topic string, partitions int) {
	t.Helper()
	CreateTopicWith(t, brokers, topic, partitions, nil)
}

// CreateTopicWith is CreateTopic with topic configuration, e.g.
// {"max.message.bytes": "8388608"} for records larger than the broker's
// default limit (1 MiB).
func CreateTopicWith(t testing.TB, brokers string, topic string, partitions int, config map[string]string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(splitBrokers(brokers), SaramaConfig())
	if err != nil {
		t.Fatalf("testenv: connect admin to %s: %v", brokers, err)
	}
	defer admin.Close()

	detail := &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}
	if len(config) > 0 {
		detail.ConfigEntries = map[string]*string{}
		for k, v := range config {
			detail.ConfigEntries[k] = &v
		}
	}
	if err := admin.CreateTopic(topic, detail, false); err != nil {
		t.Fatalf("testenv: create topic %q with %d partitions: %v", topic, partitions, err)
	}
	t.Cleanup(func() { deleteTopic(t, brokers, topic) })

	if err := waitForLeaders(admin, topic, partitions, 15*time.Second); err != nil {
		t.Fatalf("testenv: topic %q: %v", topic, err)
	}
}

// waitForLeaders polls the metadata of topic until it has the given number
// of partitions, each with a leader, or until timeout passes.
func waitForLeaders(admin sarama.ClusterAdmin, topic string, partitions int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := leadersReady(admin, topic, partitions)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partitions not ready after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leadersReady reports, as a nil error, whether every partition of topic
// has a leader.
func leadersReady(admin sarama.ClusterAdmin, topic string, partitions int) error {
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if len(md) != 1 {
		return fmt.Errorf("describe returned %d topics", len(md))
	}
	if md[0].Err != sarama.ErrNoError {
		return md[0].Err
	}
	if len(md[0].Partitions) != partitions {
		return fmt.Errorf("%d of %d partitions", len(md[0].Partitions), partitions)
	}
	for _, p := range md[0].Partitions {
		if p.Err != sarama.ErrNoError {
			return fmt.Errorf("partition %d: %w", p.ID, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

// deleteTopic deletes topic at the end of a test; failing to is only
// logged, since the broker is thrown away eventually anyway.
func deleteTopic(t testing.TB, brokers, topic string) {
	admin, err := sarama.NewClusterAdmin(splitBrokers(brokers), SaramaConfig())
	if err != nil {
		t.Logf("testenv: delete topic %q: connect admin: %v", topic, err)
		return
	}
	defer admin.Close()
	if err := admin.DeleteTopic(topic); err != nil {
		t.Logf("testenv: delete topic %q: %v", topic, err)
	}
}

// splitBrokers splits a comma-separated bootstrap list.
func splitBrokers(brokers string) []string {
	var addrs []string
	for _, a := range strings.Split(brokers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}
