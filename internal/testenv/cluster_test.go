package testenv

import (
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestRedisClusterMoveSlot(t *testing.T) {
	c := StartRedisCluster(t, 3)
	owners := c.Owners()
	perMaster := map[string]int{}
	for _, o := range owners {
		perMaster[o]++
	}
	if len(perMaster) != 3 || perMaster[""] != 0 {
		t.Fatalf("slots per master = %v, want 3 masters covering every slot", perMaster)
	}

	// "foo" is in slot 12182 (CLUSTER KEYSLOT says so too).
	const key, slot = "foo", 12182
	if s, err := redis.Int(c.do(c.Addrs()[0], "CLUSTER", "KEYSLOT", key)); err != nil || s != slot {
		t.Fatalf("CLUSTER KEYSLOT foo = %d, %v", s, err)
	}
	from := owners[slot]
	c.Do(from, "SET", key, "bar")
	var to string
	for _, a := range c.Addrs() {
		if a != from {
			to = a
		}
	}
	c.MoveSlot(slot, to)
	c.WaitAgreed()
	if got := c.Owner(slot); got != to {
		t.Fatalf("slot %d on %s after MoveSlot, want %s", slot, got, to)
	}
	if v, err := redis.String(c.do(to, "GET", key)); err != nil || v != "bar" {
		t.Errorf("GET foo on the new owner = %q, %v", v, err)
	}
	if _, err := c.do(from, "GET", key); err == nil {
		t.Errorf("GET foo on the old owner: no MOVED error")
	}
	if keys := c.Keys(); len(keys) != 1 || keys[0] != key {
		t.Errorf("Keys() = %v", keys)
	}
}
