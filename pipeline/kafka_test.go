package pipeline

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
)

// TestSASLMechanisms authenticates with each SASL mechanism against kfake
// (the real broker is in e2e/security_test.go), with the right password
// and with a wrong one, which must fail at connect time with an error that
// says so and does not show the password.
func TestSASLMechanisms(t *testing.T) {
	const right, wrong = "right-pass-1f9c", "wrong-pass-77ab"
	for _, mech := range []config.Mechanism{config.MechanismPlain, config.MechanismSCRAMSHA256, config.MechanismSCRAMSHA512} {
		t.Run(mech.String(), func(t *testing.T) {
			c := testenv.KFakeCluster(t, kfake.EnableSASL(), kfake.Superuser(mech.String(), "feathr", right))
			brokers := c.ListenAddrs()
			for _, pw := range []string{right, wrong} {
				src := &config.Source{Name: "s", Kafka: config.Kafka{
					Brokers: brokers, Topics: []string{"t"},
					Security: config.Security{Protocol: config.ProtocolSASLPlaintext, Mechanism: mech, Username: "feathr", Password: pw},
				}}
				cfg, err := saramaConfig(src, config.StartEarliest, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Metadata.Retry.Max = 0
				client, err := connect(context.Background(), src, cfg, 30*time.Second)
				if pw == right {
					if err != nil {
						t.Fatalf("right password: %v", err)
					}
					client.Close()
					continue
				}
				if err == nil {
					client.Close()
					t.Fatal("wrong password: connected")
				}
				if msg := err.Error(); !strings.Contains(msg, "check security.username") || strings.Contains(msg, wrong) {
					t.Errorf("wrong password: error %q should say what to check and not show the password", msg)
				}
			}
		})
	}
}

func TestApplySecurity(t *testing.T) {
	for _, c := range []struct {
		sec       config.Security
		tls, sasl bool
		mech      sarama.SASLMechanism
		err       string
	}{
		{sec: config.Security{Protocol: config.ProtocolPlaintext}},
		{sec: config.Security{}},
		{sec: config.Security{Protocol: config.ProtocolSSL}, tls: true},
		{sec: config.Security{Protocol: config.ProtocolSASLSSL, Mechanism: config.MechanismPlain, Username: "$ConnectionString", Password: "Endpoint=sb://x"}, tls: true, sasl: true, mech: sarama.SASLTypePlaintext},
		{sec: config.Security{Protocol: config.ProtocolSASLPlaintext, Mechanism: config.MechanismSCRAMSHA256, Username: "u", Password: "p"}, sasl: true, mech: sarama.SASLTypeSCRAMSHA256},
		{sec: config.Security{Protocol: config.ProtocolSASLSSL, Mechanism: config.MechanismSCRAMSHA512, Username: "u", Password: "p"}, tls: true, sasl: true, mech: sarama.SASLTypeSCRAMSHA512},
		{sec: config.Security{Protocol: config.ProtocolSASLSSL, Mechanism: 99}, err: `SASL mechanism config.Mechanism(99) is not supported`},
		{sec: config.Security{Protocol: config.ProtocolSSL, CAFile: "/nonexistent/ca.pem"}, err: "kafka TLS: reading CA file: open /nonexistent/ca.pem"},
		{sec: config.Security{Protocol: config.ProtocolSSL, CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, err: "loading client certificate /nonexistent/c.pem"},
		{sec: config.Security{Protocol: 99}, err: `security protocol config.Protocol(99) is not supported`},
	} {
		cfg := sarama.NewConfig()
		err := applySecurity(cfg, c.sec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c.sec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c.sec, err)
			continue
		}
		if cfg.Net.TLS.Enable != c.tls || cfg.Net.SASL.Enable != c.sasl || cfg.Net.SASL.Mechanism != c.mech && c.sasl {
			t.Errorf("%+v: TLS %v, SASL %v %s", c.sec, cfg.Net.TLS.Enable, cfg.Net.SASL.Enable, cfg.Net.SASL.Mechanism)
		}
		if c.sasl && (cfg.Net.SASL.User != c.sec.Username || cfg.Net.SASL.Password != c.sec.Password) {
			t.Errorf("%+v: SASL credentials not set", c.sec)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: sarama rejects the configuration: %v", c.sec, err)
		}
	}
}

func TestConnectHint(t *testing.T) {
	wrap := func(err error) error { return sarama.Wrap(sarama.ErrOutOfBrokers, err) }
	scram := config.Security{Protocol: config.ProtocolSASLSSL, Mechanism: config.MechanismSCRAMSHA512, Username: "u", Password: "pw-b1e4"}
	for _, c := range []struct {
		err  error
		sec  config.Security
		want string
	}{
		{wrap(x509.UnknownAuthorityError{}), config.Security{Protocol: config.ProtocolSSL}, "set security.ca_file"},
		{wrap(x509.UnknownAuthorityError{}), config.Security{Protocol: config.ProtocolSSL, CAFile: "/ca.pem"}, "not signed by a CA in ca_file /ca.pem"},
		{wrap(x509.HostnameError{}), config.Security{Protocol: config.ProtocolSSL}, "not valid for the host"},
		{wrap(sarama.ErrSASLAuthenticationFailed), scram, "refused the credentials"},
		{wrap(sarama.ErrUnsupportedSASLMechanism), scram, "does not offer mechanism SCRAM-SHA-512"},
		{wrap(errors.New("remote error: tls: bad certificate")), config.Security{Protocol: config.ProtocolSSL}, "may require a client certificate"},
		{wrap(errors.New("remote error: tls: unknown certificate authority")), config.Security{Protocol: config.ProtocolSSL, CertFile: "/c.pem"}, "refused the client certificate /c.pem"},
		{wrap(io.EOF), scram, "check security.username"},
		{wrap(io.EOF), config.Security{Protocol: config.ProtocolSSL}, "speaks SSL"},
		{wrap(io.EOF), config.Security{}, "check security.protocol"},
		{sarama.ErrOutOfBrokers, scram, "security.protocol SASL_SSL is what the listener"},
		{sarama.ErrOutOfBrokers, config.Security{}, ""},
	} {
		got := connectHint(c.err, c.sec)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) || strings.Contains(got, c.sec.Password) && c.sec.Password != "" {
			t.Errorf("connectHint(%v, %s) = %q, want it to contain %q", c.err, c.sec.Protocol, got, c.want)
		}
	}
}

// fakePauser counts the pauses and resumes of a partition's fetches.
type fakePauser struct{ paused, resumed int }

func (f *fakePauser) Pause()  { f.paused++ }
func (f *fakePauser) Resume() { f.resumed++ }

// TestPace checks that a partition's fetches pause while the messages in
// its channel hold more than partitionBufferBytes, and resume below half.
func TestPace(t *testing.T) {
	ch := make(chan *sarama.ConsumerMessage, 4096)
	f := &fakePauser{}
	pt := &partition{}
	pt.source(ch, f)
	big := &sarama.ConsumerMessage{Value: make([]byte, 100<<10)}
	for range 50 { // 5 MB waiting: under the bound
		ch <- big
	}
	pt.measure(big)
	pt.pace()
	if f.paused != 0 {
		t.Fatalf("paused with %d messages of 100 KiB waiting", len(ch))
	}
	for range 50 { // 10 MB
		ch <- big
	}
	pt.measure(big)
	pt.pace()
	if f.paused != 1 {
		t.Fatalf("not paused with %d messages of 100 KiB waiting", len(ch))
	}
	for len(ch) > 35 { // 3.5 MB: under half of the bound
		<-ch
	}
	pt.measure(big)
	pt.pace()
	pt.measure(big)
	pt.pace()
	if f.paused != 1 || f.resumed != 1 {
		t.Fatalf("paused %d, resumed %d times; want 1 and 1", f.paused, f.resumed)
	}
	small := &sarama.ConsumerMessage{Value: make([]byte, 100)}
	pt2 := &partition{}
	ch2 := make(chan *sarama.ConsumerMessage, 4096)
	pt2.source(ch2, f)
	for range 4000 {
		ch2 <- small
	}
	pt2.measure(small)
	pt2.pace()
	if f.paused != 1 {
		t.Error("paused for 4,000 small messages")
	}
}
