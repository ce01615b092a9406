package testenv

import "testing"

func TestRedisStopStart(t *testing.T) {
	s := StartRedis(t)
	if err := ping(s.Addr(), nil); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	s.Stop()
	if err := ping(s.Addr(), nil); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	s.Stop() // no-op
	s.Start()
	if err := ping(s.Addr(), nil); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if addr := Redis(t); addr == s.Addr() || ping(addr, nil) != nil {
		t.Fatalf("second server %s: not distinct or not up", addr)
	}
}

func TestRedisArgs(t *testing.T) {
	s := StartRedis(t, "--requirepass", "secret")
	if err := ping(s.Addr(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestRedisTLS starts a TLS-only server that requires client certificates:
// a client with the test CA and certificate gets PONG, a plain TCP client
// and a TLS client without a certificate do not.
func TestRedisTLS(t *testing.T) {
	certs := NewCerts(t)
	s := StartRedisWith(t, RedisOptions{TLS: certs})
	tc, err := clientTLS(certs)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(s.Addr(), tc); err != nil {
		t.Fatalf("TLS ping: %v", err)
	}
	if err := ping(s.Addr(), nil); err == nil {
		t.Error("plain ping of a TLS-only server succeeded")
	}
	noCert := tc.Clone()
	noCert.Certificates = nil
	if err := ping(s.Addr(), noCert); err == nil {
		t.Error("ping without a client certificate succeeded")
	}
	s.Stop()
	s.Start() // again with TLS
	if err := ping(s.Addr(), tc); err != nil {
		t.Fatalf("TLS ping after restart: %v", err)
	}
}
