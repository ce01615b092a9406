package testenv

import "testing"

func TestRedisStopStart(t *testing.T) {
	s := StartRedis(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	s.Stop() // no-op
	s.Start()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if addr := Redis(t); addr == s.Addr() || ping(addr) != nil {
		t.Fatalf("second server %s: not distinct or not up", addr)
	}
}

func TestRedisArgs(t *testing.T) {
	s := StartRedis(t, "--requirepass", "secret")
	if err := ping(s.Addr()); err != nil {
		t.Fatal(err)
	}
}
