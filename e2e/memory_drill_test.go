package e2e

// The memory drill, and the helpers of the drills: producers, group state, a TCP proxy that cuts a member off Redis, and a group member that holds a rebalance.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestFaultMemoryBoundedByBytes stops Redis for 20 s while 3,000 records
// of 100 KiB each (300 MB) arrive: peak RSS of feathr (VmHWM) stays under
// 200 MB and nothing is lost. With small updates, the 100 KiB are only in
// the records (sarama's buffers, the tracker); with large ones, each
// update carries them too (a STRING feature of the padding: the writer's
// queue).
func TestFaultMemoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	for _, tt := range []struct {
		name string
		blob bool
	}{{"small updates", false}, {"100 KiB updates", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := testenv.StartRedis(t)
			topic := testenv.TopicName(t)
			const partitions, n = 4, 3000
			testenv.CreateTopic(t, brokers, topic, partitions)
			group := "feathr-e2e-" + topic
			cfg := writeFile(t, "features.yaml", hotConfig(brokers, topic, group, rs.Addr(), hotOptions{blob: tt.blob}))
			h := newHotKeys(topic, partitions, 16)
			h.pad = 100 << 10
			h.watch(t, rs.Addr())
			p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "4m")
			p.waitAssigned(t, 30*time.Second)
			h.produce(t, brokers, 64)
			h.waitNewest(t, 30*time.Second, "the first 64 events are not in Redis")

			rs.Stop()
			h.lost() // the server keeps no data: only the events from now on are expected
			down := time.Now()
			h.produce(t, brokers, n)
			producing := time.Since(down)
			holdDuring(t, down, 20*time.Second, time.Second, "while Redis was down", 0, nil, p)
			rs.Start()
			h.waitNewest(t, 2*time.Minute, "the events of the outage are not in Redis after it")
			outage := time.Since(down)
			peak := vmHWM(t, p.cmd.Process.Pid)
			p.signal(t, syscall.SIGTERM)
			r := p.wait(t, time.Minute)
			checkSummary(t, r, wantSummary{read: 64 + n, written: 64 + n, stopped: "signal"})
			checkCommittedAtEnd(t, brokers, group, topic, partitions, 64+n)
			h.check(t)
			t.Logf("%s: %d records of 100 KiB produced in %v while Redis was down for %v: peak RSS %.0f MB",
				tt.name, n, producing.Round(100*time.Millisecond), outage.Round(100*time.Millisecond), float64(peak)/1e6)
			if peak >= 200e6 {
				t.Errorf("peak RSS %.0f MB, want under 200 MB", float64(peak)/1e6)
			}
		})
	}
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// newProducer returns a producer to the partitions that messages name,
// with acks from all replicas, closed when the test ends.
func newProducer(t *testing.T, brokers string) sarama.SyncProducer {
	t.Helper()
	cfg := testenv.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(strings.Split(brokers, ","), cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// groupState returns the state of a consumer group as the broker
// describes it, e.g. "Stable" or "PreparingRebalance".
func groupState(t *testing.T, brokers, group string) string {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	gs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(gs) != 1 {
		t.Fatalf("describe group %s: %v", group, err)
	}
	return gs[0].State
}

var claimsRE = regexp.MustCompile(`msg="partitions assigned".* claims="?map\[([^:\s]+):\[([0-9 ]*)\]\]`)

// assignedPartitions returns the partitions of topic in the last
// "partitions assigned" line of a process's stderr.
func assignedPartitions(t *testing.T, stderr, topic string) []int32 {
	t.Helper()
	ms := claimsRE.FindAllStringSubmatch(stderr, -1)
	if len(ms) == 0 || ms[len(ms)-1][1] != topic {
		t.Fatalf("no partitions of %s assigned:\n%s", topic, stderr)
	}
	var out []int32
	for _, f := range strings.Fields(ms[len(ms)-1][2]) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int32(p))
	}
	return out
}

// proxy forwards TCP connections to a server until cut, which closes
// every connection and the port (new connections are refused) until
// restore listens on the same port again: the server is down for the
// proxy's clients only.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// startProxy starts a proxy to target on a free loopback port, closed
// when the test ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

// forward copies between c and a new connection to the target.
func (p *proxy) forward(c net.Conn) {
	s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(s, c)
	go pipe(c, s)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// cut closes the port and every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// restore listens on the proxy's port again.
func (p *proxy) restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the closed port may take a moment to be free
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}

// groupHolder is a sarama member of a consumer group that holds the
// group's next rebalance: when its first session ends its Cleanup waits
// until release, and sarama keeps heartbeating meanwhile, so the group
// waits for it to join again up to the rebalance timeout (a minute). It
// consumes nothing and commits nothing.
type groupHolder struct {
	holding chan struct{} // closed once its Cleanup waits
	free    chan struct{} // closed by release
	once    sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
}

// startHolder joins group on topic with a groupHolder, which leaves the
// group when the test ends.
func startHolder(t *testing.T, brokers, group, topic string) *groupHolder {
	t.Helper()
	cfg := testenv.SaramaConfig()
	cfg.Consumer.Group.Rebalance.Timeout = time.Minute
	cg, err := sarama.NewConsumerGroup(strings.Split(brokers, ","), group, cfg)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	x := &groupHolder{holding: make(chan struct{}), free: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go func() {
		defer close(x.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, x); err != nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		x.release()
		<-x.done
		cg.Close()
	})
	return x
}

// release lets the holder's Cleanup return and ends its consumption.
func (x *groupHolder) release() {
	x.once.Do(func() {
		x.cancel()
		close(x.free)
	})
}

func (x *groupHolder) Setup(sarama.ConsumerGroupSession) error { return nil }

func (x *groupHolder) Cleanup(sarama.ConsumerGroupSession) error {
	select {
	case <-x.holding:
	default:
		close(x.holding)
	}
	<-x.free
	return nil
}

func (x *groupHolder) ConsumeClaim(_ sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for range claim.Messages() {
	}
	return nil
}
