package tlsconf

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/internal/testenv"
)

func TestClient(t *testing.T) {
	c := testenv.NewCerts(t)
	secretKey, err := os.ReadFile(c.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}

	tc, err := Client(Files{CAFile: c.CAFile, CertFile: c.ClientCert, KeyFile: c.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.InsecureSkipVerify || tc.MinVersion == 0 {
		t.Errorf("config: %+v", tc)
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil || leaf.Subject.CommonName != "feathr-client" {
		t.Errorf("client certificate: %v %v", leaf, err)
	}
	if tc, err := Client(Files{}); err != nil || tc.RootCAs != nil || len(tc.Certificates) != 0 {
		t.Errorf("no files: %+v, %v", tc, err)
	}

	for _, f := range []struct {
		files Files
		want  string
	}{
		{Files{CAFile: "/nonexistent/ca.pem"}, "reading CA file: open /nonexistent/ca.pem"},
		{Files{CAFile: notPEM}, "holds no valid PEM certificate"},
		{Files{CAFile: c.ClientKey}, "holds no valid PEM certificate"},
		{Files{CertFile: c.ClientCert, KeyFile: c.ServerKey}, "loading client certificate"},
		{Files{CertFile: c.ClientKey, KeyFile: c.ClientCert}, "loading client certificate"},
		{Files{CertFile: c.ClientCert}, "loading client certificate"},
	} {
		_, err := Client(f.files)
		if err == nil || !strings.Contains(err.Error(), f.want) {
			t.Errorf("%+v: error %v, want %q", f.files, err, f.want)
			continue
		}
		if strings.Contains(err.Error(), strings.TrimSpace(string(secretKey))[40:80]) {
			t.Errorf("%+v: the error shows the key: %v", f.files, err)
		}
	}
}
