package testenv

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisStartTimeout bounds how long a starting redis-server may take to
// answer PING.
const redisStartTimeout = 10 * time.Second

// Redis starts a private redis-server for the test and returns its address,
// "127.0.0.1:port". The server is killed when the test ends.
func Redis(t testing.TB) string {
	t.Helper()
	return StartRedis(t).Addr()
}

// RedisServer is a private redis-server that a test can stop and start
// again on the same port, e.g. to simulate Redis being down.
type RedisServer struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string
	tls  *tls.Config // of a client, when the server speaks only TLS
	aof  bool        // the append-only file is on: data survives Stop

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a private redis-server on a free loopback port, with no
// persistence (--save "" --appendonly no) and its files in a temporary
// directory; args are extra redis-server arguments such as
// "--requirepass", "secret". The server is killed when the test ends. It
// fails the test when redis-server is not on PATH.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	return StartRedisWith(t, RedisOptions{Args: args})
}

// RedisOptions configure a server started by StartRedisWith.
type RedisOptions struct {
	// Args are extra redis-server arguments, e.g. "--requirepass", "secret".
	Args []string
	// TLS, when set, makes the server speak only TLS (--port 0 --tls-port)
	// with the server certificate of TLS, trusting its CA for clients'
	// certificates.
	TLS *Certs
	// TLSAuthClients is redis-server's tls-auth-clients: "yes" (the
	// default: clients must present a certificate), "optional" or "no".
	TLSAuthClients string
	// AppendOnly turns the append-only file on, fsynced before every
	// reply (--appendonly yes --appendfsync always): what the server
	// acknowledged survives Stop (a crash), and Start loads it again.
	AppendOnly bool
}

// StartRedisWith is StartRedis with options, e.g. TLS.
func StartRedisWith(t testing.TB, o RedisOptions) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not found on PATH: install it with `scripts/redis.sh install`")
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: find a free port for redis-server: %v", err)
	}
	args := o.Args
	var tc *tls.Config
	if c := o.TLS; c != nil {
		auth := o.TLSAuthClients
		if auth == "" {
			auth = "yes"
		}
		args = append([]string{
			"--tls-cert-file", c.ServerCert, "--tls-key-file", c.ServerKey,
			"--tls-ca-cert-file", c.CAFile, "--tls-auth-clients", auth,
		}, args...)
		tc, err = clientTLS(c)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	s := &RedisServer{t: t, bin: bin, port: port, dir: t.TempDir(), args: args, tls: tc, aof: o.AppendOnly}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *RedisServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Start starts the server again after Stop, on the same port, and waits
// until it answers PING. The data is gone, unless the server was started
// with RedisOptions.AppendOnly: then it loads what it acknowledged before.
// Start does nothing when the server is running.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	listen := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		listen = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args := append(listen, "--bind", "127.0.0.1", "--save", "")
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, "--dir", s.dir, "--logfile", "redis.log", "--daemonize", "no")
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testenv: start redis-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		err := ping(s.Addr(), s.tls)
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			s.t.Fatalf("testenv: redis-server exited at start (%v): %s", werr, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			s.t.Fatalf("testenv: redis-server on %s did not answer PING within %v: %v: %s",
				s.Addr(), redisStartTimeout, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd = cmd
	go func() {
		// Reap the process; Stop waits for it through wait.
		err := <-exited
		s.exited(cmd, err)
	}()
}

// exited is called when cmd's process ended.
func (s *RedisServer) exited(cmd *exec.Cmd, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == cmd {
		s.cmd = nil
	}
}

// Stop kills the server (SIGKILL: like a crash) and waits until its port
// refuses connections. Stop does nothing when the server is not running.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	for range 500 {
		s.mu.Lock()
		gone := s.cmd != cmd
		s.mu.Unlock()
		if gone {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Errorf("testenv: redis-server pid %d did not exit after SIGKILL", cmd.Process.Pid)
}

// Pause stops the server's process with SIGSTOP: it keeps its port and
// its connections, and the kernel still accepts new ones, but nothing is
// answered until Resume, as when a server hangs.
func (s *RedisServer) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues the process that Pause stopped (SIGCONT).
func (s *RedisServer) Resume() { s.signal(syscall.SIGCONT) }

// signal sends sig to the running server, failing the test when there is
// none.
func (s *RedisServer) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatalf("testenv: redis-server on %s is not running", s.Addr())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: redis-server: %v: %v", sig, err)
	}
}

// logTail returns the end of the server's log, for failure messages.
func (s *RedisServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "log:\n" + string(b)
}

// clientTLS returns the configuration of a client of a server with the
// certificates c: it trusts c's CA and presents c's client certificate.
func clientTLS(c *Certs) (*tls.Config, error) {
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// ping sends PING and checks for +PONG (or an auth error: the server is
// up), over TLS when tc is set.
func ping(addr string, tc *tls.Config) error {
	var (
		c   net.Conn
		err error
	)
	if tc != nil {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: tc}
		c, err = d.Dial("tcp", addr)
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING: %q", strings.TrimSpace(line))
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
