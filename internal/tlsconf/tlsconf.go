// Package tlsconf builds TLS client configurations from PEM files: the CA
// certificates that verify the server and, for mutual TLS, the client's
// certificate and key. Kafka sources and the Redis store share it: it is
// imported by pipeline and sink, and imports only the standard library.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Files names the PEM files of a TLS client. Empty fields are not used:
// without CAFile the system's roots verify the server, without CertFile
// and KeyFile no client certificate is sent.
type Files struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// InsecureSkipVerify turns off the server's certificate check.
	InsecureSkipVerify bool
}

// Client returns a TLS 1.2+ client configuration for f. Its errors name
// the files, never their contents.
func Client(f Files) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // opt-in
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no valid PEM certificate", f.CAFile)
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
