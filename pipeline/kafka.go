package pipeline

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/tlsconf"
)

// saramaConfig builds the consumer configuration of a source. start, when
// set (not zero), overrides the source's own start.
func saramaConfig(src *config.Source, start config.Start, commitInterval time.Duration) (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "feathr"
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 500 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = commitInterval
	// 256 KiB per partition and fetch (sarama's default is 1 MiB): sarama
	// keeps a fetch response and every record decoded from it (a few
	// hundred bytes each) until the handler took them all, so this bounds
	// the consumer's memory. With 4 partitions, 1 MiB made the live heap
	// 40-65 MB and peak RSS ~140 MB in a 400k-event catch-up; 256 KiB gives
	// ~75 MB at the same speed. A record larger than this still comes: sarama
	// doubles a partition's fetch size until it fits.
	cfg.Consumer.Fetch.Default = 256 << 10
	// Room for a fetch response of small records per partition (about
	// 2,500 at 256 KiB), so that sarama fetches the next while the
	// partition works; by bytes the buffer is bounded by pausing the
	// partition (partition.pace).
	cfg.ChannelBufferSize = 4096
	cfg.Consumer.MaxProcessingTime = time.Second
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	if start == 0 {
		start = src.Kafka.Start
	}
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	if start == config.StartEarliest {
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	// Records of aborted transactions are never read unless the source
	// asks for read_uncommitted; a committed one's are read up to the last
	// stable offset.
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	if src.Kafka.Isolation == config.ReadUncommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	}
	if err := applySecurity(cfg, src.Kafka.Security); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client configuration: %w", err)
	}
	return cfg, nil
}

// applySecurity sets TLS and SASL from the source's security settings.
func applySecurity(cfg *sarama.Config, sec config.Security) error {
	switch sec.Protocol {
	case 0, config.ProtocolPlaintext:
		return nil
	case config.ProtocolSSL, config.ProtocolSASLSSL:
		tc, err := tlsconf.Client(tlsconf.Files{
			CAFile: sec.CAFile, CertFile: sec.CertFile, KeyFile: sec.KeyFile,
			InsecureSkipVerify: sec.InsecureSkipVerify,
		})
		if err != nil {
			return fmt.Errorf("kafka TLS: %w", err)
		}
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	case config.ProtocolSASLPlaintext:
	default:
		return fmt.Errorf("security protocol %v is not supported", sec.Protocol)
	}
	if sec.Protocol.SASL() {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.User = sec.Username
		cfg.Net.SASL.Password = sec.Password
		switch sec.Mechanism {
		case 0, config.MechanismPlain:
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case config.MechanismSCRAMSHA256:
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
		case config.MechanismSCRAMSHA512:
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
		default:
			return fmt.Errorf("SASL mechanism %v is not supported (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", sec.Mechanism)
		}
	}
	return nil
}

// scramClient is sarama's SCRAM conversation (RFC 5802), done by
// github.com/xdg-go/scram with the given hash.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

// Begin starts a conversation for the user.
func (c *scramClient) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		// The error names what is wrong (e.g. stringprep), never the password.
		return fmt.Errorf("SCRAM: %w", err)
	}
	c.conv = cl.NewConversation()
	return nil
}

// Step answers the server's challenge.
func (c *scramClient) Step(challenge string) (string, error) {
	return c.conv.Step(challenge)
}

// Done reports whether the conversation is over.
func (c *scramClient) Done() bool { return c.conv.Done() }

// connect opens the sarama client of a source. Its error says what to
// check when the cause is a security setting: an untrusted or misnamed
// broker certificate, credentials the broker refused, or a connection the
// broker closed (a protocol that does not match the listener's).
func connect(ctx context.Context, src *config.Source, cfg *sarama.Config, timeout time.Duration) (sarama.Client, error) {
	client, err := newClient(ctx, src.Kafka.Brokers, cfg, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w%s", src.Kafka.Brokers, err, connectHint(err, src.Kafka.Security))
	}
	return client, nil
}

// connectHint returns advice, starting with "; ", for a connect error.
func connectHint(err error, sec config.Security) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		kerr      sarama.KError
	)
	switch {
	case errors.As(err, &unknownCA):
		if sec.CAFile != "" {
			return fmt.Sprintf("; the broker's certificate is not signed by a CA in ca_file %s", sec.CAFile)
		}
		return "; the broker's certificate is not signed by a trusted CA: set security.ca_file to the CA's PEM file"
	case errors.As(err, &hostname):
		return "; the broker's certificate is not valid for the host in brokers"
	case errors.As(err, &invalid):
		return "; the broker's certificate is invalid (expired, or not for a server)"
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.As(err, &kerr) && kerr == sarama.ErrSASLAuthenticationFailed:
		return fmt.Sprintf("; the broker refused the credentials: check security.username and the password for mechanism %s", sec.Mechanism)
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return fmt.Sprintf("; the listener does not offer mechanism %s", sec.Mechanism)
	case strings.Contains(err.Error(), "remote error: tls: "):
		// The broker sent a TLS alert: it refused the client's certificate.
		if sec.CertFile == "" {
			return "; the broker refused the TLS handshake: it may require a client certificate (security.cert_file and key_file)"
		}
		return fmt.Sprintf("; the broker refused the client certificate %s: is it signed by a CA the broker trusts?", sec.CertFile)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		switch {
		case sec.Protocol.SASL():
			return fmt.Sprintf("; the broker closed the connection: check security.username, the password and mechanism %s, and that the listener speaks %s", sec.Mechanism, sec.Protocol)
		case sec.Protocol == config.ProtocolSSL:
			return "; the broker closed the connection: check that the listener speaks SSL and whether it requires a client certificate (cert_file, key_file)"
		}
		return "; the broker closed the connection: check security.protocol (does the listener need SSL or SASL?)"
	case errors.Is(err, sarama.ErrOutOfBrokers) && sec.Protocol != 0 && sec.Protocol != config.ProtocolPlaintext:
		return fmt.Sprintf("; check that security.protocol %s is what the listener at these brokers speaks", sec.Protocol)
	}
	return ""
}
