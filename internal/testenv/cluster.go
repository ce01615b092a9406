package testenv

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// clusterStartTimeout bounds how long a new cluster may take to reach
// cluster_state:ok on every node.
const clusterStartTimeout = 30 * time.Second

// RedisCluster is a private Redis Cluster of masters without replicas,
// made of redis-server processes on free loopback ports.
type RedisCluster struct {
	t     testing.TB
	nodes []*RedisServer

	mu  sync.Mutex
	ids map[string]string // node id per address, cached
}

// StartRedisCluster starts masters redis-servers with cluster-enabled yes
// (each with its own cluster-config-file in a temporary directory and no
// persistence), joins them with `redis-cli --cluster create ...
// --cluster-replicas 0 --cluster-yes`, and waits until every node reports
// cluster_state:ok and agrees on the owner of every slot. The servers are
// killed when the test ends. It fails the test when redis-server or
// redis-cli is not on PATH.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("testenv: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("testenv: redis-cli not found on PATH: install it with `scripts/redis.sh install`")
	}
	c := &RedisCluster{t: t, ids: make(map[string]string)}
	for range masters {
		c.nodes = append(c.nodes, StartRedis(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(clusterStartTimeout)
	for {
		err := c.check()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: redis cluster %v not ready within %v: %v", c.Addrs(), clusterStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Node returns the i-th master's server, e.g. to stop and start it again
// (it keeps its cluster-config-file, so it rejoins with its slots, but
// not its data).
func (c *RedisCluster) Node(i int) *RedisServer { return c.nodes[i] }

// Addrs returns the masters' addresses, "127.0.0.1:port".
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// check returns nil when every node says cluster_state:ok and every node
// maps every slot to the same owner.
func (c *RedisCluster) check() error {
	var first [16384]string
	for i, addr := range c.Addrs() {
		info, err := redis.String(c.do(addr, "CLUSTER", "INFO"))
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", addr)
		}
		owners, err := c.owners(addr)
		if err != nil {
			return err
		}
		if i == 0 {
			first = owners
		} else if owners != first {
			return fmt.Errorf("%s: slot owners differ from %s's", addr, c.nodes[0].Addr())
		}
	}
	return nil
}

// owners returns the owner of each slot as addr sees it ("" for none).
func (c *RedisCluster) owners(addr string) ([16384]string, error) {
	var owners [16384]string
	ranges, err := redis.Values(c.do(addr, "CLUSTER", "SLOTS"))
	if err != nil {
		return owners, err
	}
	for _, r := range ranges {
		v, err := redis.Values(r, nil)
		if err != nil || len(v) < 3 {
			return owners, fmt.Errorf("%s: CLUSTER SLOTS: bad range %v", addr, r)
		}
		lo, _ := redis.Int(v[0], nil)
		hi, _ := redis.Int(v[1], nil)
		node, err := redis.Values(v[2], nil)
		if err != nil || len(node) < 2 {
			return owners, fmt.Errorf("%s: CLUSTER SLOTS: bad node %v", addr, v[2])
		}
		host, _ := redis.String(node[0], nil)
		port, _ := redis.Int(node[1], nil)
		for s := lo; s <= hi && s < len(owners); s++ {
			owners[s] = fmt.Sprintf("%s:%d", host, port)
		}
	}
	return owners, nil
}

// do runs one command on a fresh connection to addr.
func (c *RedisCluster) do(addr, cmd string, args ...any) (any, error) {
	conn, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(time.Second), redis.DialReadTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.Do(cmd, args...)
}

// Do runs one command on the node at addr and fails the test on an error.
func (c *RedisCluster) Do(addr, cmd string, args ...any) any {
	c.t.Helper()
	r, err := c.do(addr, cmd, args...)
	if err != nil {
		c.t.Fatalf("testenv: %s: %s %v: %v", addr, cmd, args, err)
	}
	return r
}

// Owner returns the address of the master that owns slot, as the first
// node sees it.
func (c *RedisCluster) Owner(slot int) string {
	c.t.Helper()
	owners, err := c.owners(c.nodes[0].Addr())
	if err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	return owners[slot]
}

// Owners returns the owner of each slot, as the first node sees it.
func (c *RedisCluster) Owners() [16384]string {
	c.t.Helper()
	owners, err := c.owners(c.nodes[0].Addr())
	if err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	return owners
}

// NodeID returns the cluster node id of the master at addr.
func (c *RedisCluster) NodeID(addr string) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.ids[addr]; ok {
		return id
	}
	id, err := redis.String(c.do(addr, "CLUSTER", "MYID"))
	if err != nil {
		c.t.Fatalf("testenv: %s: CLUSTER MYID: %v", addr, err)
	}
	c.ids[addr] = id
	return id
}

// BeginMigration starts moving slot from its owner to the master at to:
// CLUSTER SETSLOT IMPORTING on to, then MIGRATING on the owner. From then
// on the owner answers ASK for the slot's keys it no longer holds.
func (c *RedisCluster) BeginMigration(slot int, to string) (from string) {
	c.t.Helper()
	from = c.Owner(slot)
	if from == to {
		c.t.Fatalf("testenv: slot %d is already on %s", slot, to)
	}
	c.Do(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", c.NodeID(from))
	c.Do(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", c.NodeID(to))
	return from
}

// MigrateKeys moves up to count of slot's keys from from to to with
// MIGRATE and returns how many it moved.
func (c *RedisCluster) MigrateKeys(slot int, from, to string, count int) int {
	c.t.Helper()
	keys, err := redis.Strings(c.do(from, "CLUSTER", "GETKEYSINSLOT", slot, count))
	if err != nil {
		c.t.Fatalf("testenv: %s: CLUSTER GETKEYSINSLOT %d: %v", from, slot, err)
	}
	if len(keys) == 0 {
		return 0
	}
	host, port, _ := strings.Cut(to, ":")
	args := []any{host, port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	c.Do(from, "MIGRATE", args...)
	return len(keys)
}

// MigrateKey moves one key of a slot being migrated from from to to.
func (c *RedisCluster) MigrateKey(from, to, key string) {
	c.t.Helper()
	host, port, _ := strings.Cut(to, ":")
	c.Do(from, "MIGRATE", host, port, key, 0, 5000)
}

// FinishMigration ends a migration that BeginMigration started: it moves
// the keys left and assigns slot to to on every master (CLUSTER SETSLOT
// NODE), the destination first.
func (c *RedisCluster) FinishMigration(slot int, from, to string) {
	c.t.Helper()
	for c.MigrateKeys(slot, from, to, 100) > 0 {
	}
	id := c.NodeID(to)
	c.Do(to, "CLUSTER", "SETSLOT", slot, "NODE", id)
	c.Do(from, "CLUSTER", "SETSLOT", slot, "NODE", id)
	for _, addr := range c.Addrs() {
		if addr != to && addr != from {
			c.Do(addr, "CLUSTER", "SETSLOT", slot, "NODE", id)
		}
	}
}

// MoveSlot moves slot and its keys to the master at to, a few keys per
// MIGRATE, as `redis-cli --cluster reshard` does.
func (c *RedisCluster) MoveSlot(slot int, to string) {
	c.t.Helper()
	from := c.BeginMigration(slot, to)
	c.FinishMigration(slot, from, to)
}

// WaitAgreed waits until every node maps every slot to the same owner,
// e.g. after slots were moved.
func (c *RedisCluster) WaitAgreed() {
	c.t.Helper()
	deadline := time.Now().Add(clusterStartTimeout)
	for {
		err := c.check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testenv: redis cluster %v: %v", c.Addrs(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Keys returns every key of every master, sorted, with SCAN.
func (c *RedisCluster) Keys() []string {
	c.t.Helper()
	var keys []string
	for _, addr := range c.Addrs() {
		cursor := "0"
		for {
			r, err := redis.Values(c.do(addr, "SCAN", cursor, "COUNT", 1000))
			if err != nil || len(r) != 2 {
				c.t.Fatalf("testenv: %s: SCAN: %v", addr, err)
			}
			cursor, _ = redis.String(r[0], nil)
			ks, _ := redis.Strings(r[1], nil)
			keys = append(keys, ks...)
			if cursor == "0" {
				break
			}
		}
	}
	slices.Sort(keys)
	return keys
}
