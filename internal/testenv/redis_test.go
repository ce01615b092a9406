package testenv

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

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

// TestRedisAppendOnly checks that a server with the append-only file
// keeps, across a crash (Stop is SIGKILL), what it acknowledged.
func TestRedisAppendOnly(t *testing.T) {
	s := StartRedisWith(t, RedisOptions{AppendOnly: true})
	if got := command(t, s.Addr(), "SET k v"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}
	s.Stop()
	s.Start()
	if got := command(t, s.Addr(), "GET k"); got != "$1" {
		t.Fatalf("GET after a restart: %q, want the value set before", got)
	}
}

// TestRedisPause checks that a paused server answers nothing, though it
// keeps its port, and answers again once resumed.
func TestRedisPause(t *testing.T) {
	s := StartRedis(t)
	s.Pause()
	if err := ping(s.Addr(), nil); err == nil {
		t.Fatal("a paused server answered PING")
	}
	s.Resume()
	if err := ping(s.Addr(), nil); err != nil {
		t.Fatalf("ping after Resume: %v", err)
	}
}

// command sends one inline command and returns the first line of the
// reply.
func command(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}
