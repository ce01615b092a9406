package testenv

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KFake starts an in-process Kafka-protocol broker (kfake) on a random
// loopback port, with the given topics created, and returns its bootstrap
// address. Each topic, and each topic created automatically on first use,
// has the given number of partitions (at least 1). The broker is closed
// when the test ends.
func KFake(t testing.TB, partitions int, topics ...string) string {
	t.Helper()
	if partitions < 1 {
		partitions = 1
	}
	opts := []kfake.Opt{
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), topics...))
	}
	c := KFakeCluster(t, opts...)
	return strings.Join(c.ListenAddrs(), ",")
}

// KFakeCluster starts a single-broker kfake cluster on a random loopback
// port with further options, such as fault injection through the returned
// cluster's Control methods, and closes it when the test ends. The
// bootstrap address is strings.Join(c.ListenAddrs(), ",").
func KFakeCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
