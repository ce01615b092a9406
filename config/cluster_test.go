package config

import (
	"strings"
	"testing"
)

func TestRedisCluster(t *testing.T) {
	for _, c := range []struct {
		name, redis string
		vars        map[string]string
		addr        string
		cluster     bool
	}{
		{"one server", `{addr: "r:6379"}`, nil, "r:6379", false},
		{"cluster with a seed", `{addr: "r:7000", cluster: true}`, nil, "r:7000", true},
		{"addrs", `{addrs: ["a:7000", "b:7001", "[::1]:7002"]}`, nil, "a:7000,b:7001,[::1]:7002", true},
		{"addrs and cluster", "\n    cluster: true\n    addrs:\n      - a:7000\n      - b:7001", nil, "a:7000,b:7001", true},
		{"addrs from the environment", `{addrs: "${NODES}", db: 0}`, map[string]string{"NODES": "a:1, b:2"}, "a:1,b:2", true},
		{"cluster false", `{cluster: false}`, nil, "localhost:6379", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "online_store:\n  redis: " + c.redis + "\n"
			r := mustParse(t, src, c.vars).OnlineStore.Redis
			if r.Addr != c.addr || r.Cluster != c.cluster {
				t.Errorf("Addr, Cluster = %q, %v; want %q, %v", r.Addr, r.Cluster, c.addr, c.cluster)
			}
		})
	}
}

func TestRedisClusterBroken(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []want
	}{
		{"addr and addrs", `
online_store:
  redis: {addr: "a:1", addrs: ["b:2"]}
`, []want{{2, 24, `online_store.redis.addrs: addr and addrs are exclusive`}}},
		{"addrs with cluster false", `
online_store:
  redis:
    cluster: false
    addrs: [a:1]
`, []want{{3, 14, `online_store.redis.cluster: addrs lists the nodes of a Redis Cluster`}}},
		{"an addr without port", `
online_store:
  redis:
    addrs:
      - a:1
      - b
`, []want{{5, 9, `online_store.redis.addrs: want host:port, got "b"`}}},
		{"empty addrs", `
online_store:
  redis: {addrs: []}
`, []want{{2, 18, `online_store.redis.addrs: want a list of host:port, at least one`}}},
		{"cluster with a db", `
online_store:
  redis: {cluster: true, db: 2}
`, []want{{2, 30, `online_store.redis.db: a Redis Cluster has only database 0, got 2`}}},
		{"cluster not a bool", `
online_store:
  redis: {cluster: maybe}
`, []want{{2, 20, `online_store.redis.cluster: want true or false`}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseErrs(t, yamlText(c.src), nil)
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(c.want), errs)
			}
			for i, w := range c.want {
				got := errs[i]
				if got.Line != w.line || got.Column != w.col || !strings.Contains(got.Msg, w.msg) {
					t.Errorf("error %d:\n got %d:%d: %s\nwant %d:%d: ...%s...", i, got.Line, got.Column, got.Msg, w.line, w.col, w.msg)
				}
			}
		})
	}
}
