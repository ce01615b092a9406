package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SecureKafkaPortEnv names the variable holding the first client port that
// [StartSecureKafka] tries (default 9300); the broker takes that port and
// the five after it.
const SecureKafkaPortEnv = "FEATHR_KAFKA_SECURE_PORT"

// secureKafkaStart bounds a run of scripts/kafka.sh start (it may have to
// fetch the jars), and secureKafkaReady the broker's own start-up.
const (
	secureKafkaStart = 5 * time.Minute
	secureKafkaReady = 150 * time.Second
)

// SecureKafka is a real Apache Kafka broker with TLS, mutual TLS and SASL
// listeners, started by `scripts/kafka.sh start` in secure mode
// (FEATHR_KAFKA_SECURE=1; see the script's header). Every start has its
// own CA and random passwords.
type SecureKafka struct {
	Plain         string // PLAINTEXT: for producing and administration
	SSL           string // SSL; a client certificate is optional
	MTLS          string // SSL; a client certificate is required
	SASLPlaintext string // SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLSSL       string // SASL_SSL: the same mechanisms over TLS

	Certs *Certs // CAFile, ClientCert and ClientKey; no server files

	PlainUser, PlainPassword string // a PLAIN user
	// EventHubsPassword is the password of the PLAIN user
	// "$ConnectionString": a made-up Event Hubs connection string.
	EventHubsPassword        string
	ScramUser, ScramPassword string // for SCRAM-SHA-256 and SCRAM-SHA-512
}

// StartSecureKafka starts a secure-mode broker for the test and stops it
// when the test ends. It needs java (and mvn, if the jars are not cached
// in FEATHR_CACHE yet) and openssl. Like [Kafka], it skips the test when
// FEATHR_KAFKA_BROKERS is unset, unless FEATHR_REQUIRE_KAFKA=1; then it,
// like any failure to start, fails the test.
func StartSecureKafka(t testing.TB) *SecureKafka {
	t.Helper()
	if strings.TrimSpace(os.Getenv(KafkaBrokersEnv)) == "" && os.Getenv(RequireKafkaEnv) != "1" {
		t.Skipf("testenv: no real Kafka configured (%s unset): the secure broker is started only when the real-Kafka tests run", KafkaBrokersEnv)
	}
	script, err := kafkaScript()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	port, err := securePort(script)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tlsDir := t.TempDir()
	k := &SecureKafka{
		Plain:             hostPort(port),
		SSL:               hostPort(port + 2),
		MTLS:              hostPort(port + 3),
		SASLPlaintext:     hostPort(port + 4),
		SASLSSL:           hostPort(port + 5),
		Certs:             &Certs{Dir: tlsDir, CAFile: filepath.Join(tlsDir, "ca.pem"), ClientCert: filepath.Join(tlsDir, "client.pem"), ClientKey: filepath.Join(tlsDir, "client.key")},
		PlainUser:         "feathr",
		PlainPassword:     "plain-" + randomHex(t),
		EventHubsPassword: "Endpoint=sb://feathr-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + randomHex(t),
		ScramUser:         "feathr-scram",
		ScramPassword:     "scram-" + randomHex(t),
	}
	env := append(os.Environ(),
		"FEATHR_KAFKA_SECURE=1",
		"FEATHR_KAFKA_PORT="+strconv.Itoa(port),
		"FEATHR_KAFKA_CONTROLLER_PORT="+strconv.Itoa(port+1),
		"FEATHR_KAFKA_TLS_DIR="+tlsDir,
		"FEATHR_KAFKA_START_TIMEOUT="+strconv.Itoa(int(secureKafkaReady/time.Second)),
		"FEATHR_KAFKA_PLAIN_USER="+k.PlainUser,
		"FEATHR_KAFKA_PLAIN_PASSWORD="+k.PlainPassword,
		"FEATHR_KAFKA_EVENTHUBS_PASSWORD="+k.EventHubsPassword,
		"FEATHR_KAFKA_SCRAM_USER="+k.ScramUser,
		"FEATHR_KAFKA_SCRAM_PASSWORD="+k.ScramPassword,
	)
	run := func(cmd string) (string, error) { return runScript(script, env, cmd) }
	t.Cleanup(func() {
		if out, err := run("stop"); err != nil {
			t.Errorf("testenv: %s stop: %v\n%s", script, err, out)
		}
	})
	started := time.Now()
	if out, err := run("start"); err != nil {
		t.Fatalf("testenv: FEATHR_KAFKA_SECURE=1 FEATHR_KAFKA_PORT=%d %s start: %v\n%s", port, script, err, out)
	}
	t.Logf("testenv: secure Kafka broker on %s..%d ready after %v", k.Plain, port+5, time.Since(started).Round(time.Second))
	return k
}

// kafkaScript finds scripts/kafka.sh in the module's root, above the
// working directory of the test.
func kafkaScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "kafka.sh")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("module root %s has no scripts/kafka.sh: %w", dir, err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// runScript runs scripts/kafka.sh with the command cmd in the environment
// env and returns its output.
func runScript(script string, env []string, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), secureKafkaStart)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", script, cmd)
	c.Env = env
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

// securePort returns the first of the client ports 9300, 9306 and 9312
// (or FEATHR_KAFKA_SECURE_PORT) whose six ports are all free. It first
// stops a broker that an interrupted earlier run left on such a port (the
// script's pid file names it).
func securePort(script string) (int, error) {
	bases := []int{9300, 9306, 9312}
	if s := os.Getenv(SecureKafkaPortEnv); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65530 {
			return 0, fmt.Errorf("%s=%q: want a port number", SecureKafkaPortEnv, s)
		}
		bases = []int{p}
	}
	for _, base := range bases {
		env := append(os.Environ(), "FEATHR_KAFKA_PORT="+strconv.Itoa(base))
		if out, err := runScript(script, env, "stop"); err != nil {
			return 0, fmt.Errorf("%s stop on port %d: %w\n%s", script, base, err, out)
		}
		free := true
		for p := base; p < base+6 && free; p++ {
			if c, err := net.DialTimeout("tcp", hostPort(p), 200*time.Millisecond); err == nil {
				c.Close()
				free = false
			}
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free ports for the secure Kafka broker among %v (+0..5); set %s", bases, SecureKafkaPortEnv)
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// randomHex returns 16 random hex digits, for a password.
func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return hex.EncodeToString(b)
}
