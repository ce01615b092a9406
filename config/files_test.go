package config

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePEM writes a file holding one PEM block of type typ into a
// temporary directory and returns its path. The loader looks only at the
// block types.
func writePEM(t *testing.T, name, typ string) string {
	t.Helper()
	return writeTemp(t, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte("not parsed")})))
}

// writeTemp writes content to name in a temporary directory.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFiles(t *testing.T) {
	const secret = "s3cret-from-a-file"
	pwFile := writeTemp(t, "pw", secret+"\r\n")
	empty := writeTemp(t, "empty", "\n")
	ca := writePEM(t, "ca.pem", "CERTIFICATE")
	key := writePEM(t, "client.key", "EC PRIVATE KEY")
	cert := writePEM(t, "client.pem", "CERTIFICATE")
	vars := map[string]string{"PW": pwFile, "EMPTY": empty, "CA": ca, "KEY": key, "CERT": cert,
		"SECRET": secret, "DIR": filepath.Dir(ca)}

	const kafkaHead = `
sources:
  s:
    kafka:
      brokers: ["b:9093"]
      topics: [t]
      security:
`
	for _, c := range []struct {
		name string
		src  string
		want []want // empty: valid
		// check inspects a valid file.
		check func(t *testing.T, f *File)
	}{
		{name: "kafka password_file and TLS files", src: kafkaHead + `        protocol: SASL_SSL
        mechanism: SCRAM-SHA-256
        username: u
        password_file: ${PW}
        ca_file: ${CA}
        cert_file: ${CERT}
        key_file: ${KEY}
    format: json
`, check: func(t *testing.T, f *File) {
			sec := f.Sources[0].Kafka.Security
			if sec.Password != secret || sec.PasswordFile != pwFile || sec.CAFile != ca || sec.CertFile != cert || sec.KeyFile != key {
				t.Errorf("security: %+v", sec)
			}
		}},
		{name: "redis password_file, ACL user and TLS files", src: `
online_store:
  redis: {addr: "r:6380", username: feathr, password_file: "${PW}", tls: true, ca_file: "${CA}", cert_file: "${CERT}", key_file: "${KEY}"}
`, check: func(t *testing.T, f *File) {
			r := f.OnlineStore.Redis
			if r.Password != secret || r.PasswordFile != pwFile || r.Username != "feathr" || !r.TLS || r.CAFile != ca || r.CertFile != cert || r.KeyFile != key {
				t.Errorf("redis: %+v", r)
			}
		}},
		{name: "both password and password_file", src: kafkaHead + `        protocol: SASL_PLAINTEXT
        username: u
        password: "${SECRET}"
        password_file: ${PW}
    format: json
`, want: []want{{10, 9, `kafka.security.password_file: give either password or password_file, not both`}}},
		{name: "missing password file", src: kafkaHead + `        protocol: SASL_PLAINTEXT
        username: u
        password_file: /nonexistent/pw
    format: json
`, want: []want{{9, 24, `kafka.security.password_file: stat /nonexistent/pw: no such file or directory`}}},
		{name: "empty password file", src: kafkaHead + `        protocol: SASL_PLAINTEXT
        username: u
        password_file: ${EMPTY}
    format: json
`, want: []want{{9, 24, `is empty`}}},
		{name: "password file is a directory", src: kafkaHead + `        protocol: SASL_PLAINTEXT
        username: u
        password_file: ${DIR}
    format: json
`, want: []want{{9, 24, `is not a regular file`}}},
		{name: "password_file without SASL", src: kafkaHead + `        protocol: SSL
        password_file: ${PW}
    format: json
`, want: []want{{8, 9, `kafka.security.password_file: is only used with protocol SASL_PLAINTEXT or SASL_SSL`}}},
		{name: "CA file holds a key", src: kafkaHead + `        protocol: SSL
        ca_file: ${KEY}
    format: json
`, want: []want{{8, 18, `holds no PEM certificate`}}},
		{name: "key file holds a certificate", src: kafkaHead + `        protocol: SSL
        cert_file: ${CERT}
        key_file: ${CERT}
    format: json
`, want: []want{{9, 19, `holds no PEM private key`}}},
		{name: "CA file not PEM (the password file)", src: kafkaHead + `        protocol: SSL
        ca_file: ${PW}
    format: json
`, want: []want{{8, 18, `kafka.security.ca_file: ` + pwFile + ` holds no PEM certificate`}}},
		{name: "missing CA file", src: kafkaHead + `        protocol: SASL_SSL
        username: "$ConnectionString"
        password: "${SECRET}"
        ca_file: /nonexistent/ca.pem
    format: json
`, want: []want{{10, 18, `kafka.security.ca_file: stat /nonexistent/ca.pem: no such file or directory`}}},
		{name: "redis TLS file without tls", src: `
online_store:
  redis: {password: "${SECRET}", ca_file: "${CA}"}
`, want: []want{{2, 34, `online_store.redis.ca_file: is only used with tls: true`}}},
		{name: "redis cert without key", src: `
online_store:
  redis: {tls: true, cert_file: "${CERT}"}
`, want: []want{{2, 22, `online_store.redis.cert_file: cert_file without key_file`}}},
		{name: "redis username with password_file", src: `
online_store:
  redis: {username: u, password: "${SECRET}", password_file: "${PW}"}
`, want: []want{{2, 47, `online_store.redis.password_file: give either password or password_file, not both`}}},
		{name: "redis missing password file", src: `
online_store:
  redis: {username: u, password_file: /nonexistent/pw}
`, want: []want{{2, 39, `online_store.redis.password_file: stat /nonexistent/pw`}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, errs := parseErrs(t, yamlText(c.src), vars)
			for _, err := range errs {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the secret: %v", err)
				}
			}
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(c.want), errs)
			}
			for i, w := range c.want {
				got := errs[i]
				if got.Line != w.line || got.Column != w.col || !strings.Contains(got.Msg, w.msg) {
					t.Errorf("error %d:\n got %d:%d: %s\nwant %d:%d: ...%s...", i, got.Line, got.Column, got.Msg, w.line, w.col, w.msg)
				}
			}
			if c.check != nil {
				c.check(t, f)
			}
		})
	}
}
