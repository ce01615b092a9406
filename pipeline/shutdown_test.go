package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestShutdownDuringRebalance checks that the shutdown timeout bounds the
// end of a run caught in a rebalance: a second member joins, the broker
// holds this process's JoinGroup (as a broker waiting for the rebalance
// timeout does), and the run is stopped: Run returns within the bound.
func TestShutdownDuringRebalance(t *testing.T) {
	topic := testenv.TopicName(t)
	c := testenv.KFakeCluster(t, kfake.SeedTopics(2, topic))
	brokers := c.ListenAddrs()[0]
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the cluster closes

	p := offsetsPlan(t, brokers, topic, "earliest", "")
	const bound = 2 * time.Second
	pl := New(Options{Plan: p, Writer: &memWriter{}, Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: bound})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	waitFor(t, 20*time.Second, pl.Assigned)

	// This process's rejoin (a member ID, no instance ID) is held.
	c.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if jr := req.(*kmsg.JoinGroupRequest); jr.MemberID != "" && jr.InstanceID == nil {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	other, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumerGroup(topic), kgo.ConsumeTopics(topic),
		kgo.InstanceID("other"), kgo.Balancers(kgo.RangeBalancer()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go other.PollFetches(ctx)
	waitFor(t, 20*time.Second, func() bool { return !pl.Assigned() }) // the session ended: rejoining

	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		if took := time.Since(start); took > bound+time.Second {
			t.Errorf("Run returned %v after the stop, want at most the shutdown timeout %v", took, bound)
		}
	case <-time.After(bound + 10*time.Second):
		t.Fatalf("Run did not return within %v of the stop", bound+10*time.Second)
	}
}

// waitFor polls cond until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
