package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	const secret = "hunter2-the-password"
	f := mustParse(t, `sources:
  s:
    kafka:
      brokers: ["b:9093"]
      topics: [t]
      security: {protocol: SASL_SSL, username: "$ConnectionString", password: "${P}"}
    format: confluent
    registry: {url: "http://r", username: u, password: "${P}"}
online_store:
  redis: {password: "${P}"}
`, map[string]string{"P": secret})
	all := []any{f, *f, f.Sources[0], *f.Sources[0], f.Sources[0].Kafka, f.Sources[0].Kafka.Security,
		f.Sources[0].Registry, f.OnlineStore, f.OnlineStore.Redis, &f.OnlineStore.Redis}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		for _, v := range all {
			if out := fmt.Sprintf(format, v); strings.Contains(out, secret) {
				t.Errorf("%s of %T shows the password: %s", format, v, out)
			}
		}
	}
	for _, v := range all[5:] { // the values that hold a password
		if out := fmt.Sprintf("%s", v); strings.Contains(out, secret) {
			t.Errorf("%%s of %T shows the password: %s", v, out)
		}
	}
	if s := f.OnlineStore.Redis.String(); !strings.Contains(s, "Password:"+redacted) || !strings.Contains(s, "Addr:localhost:6379") {
		t.Errorf("Redis.String() = %s", s)
	}
	if s := fmt.Sprintf("%#v", f.OnlineStore.Redis); !strings.HasPrefix(s, "config.Redis{") || !strings.Contains(s, redacted) {
		t.Errorf("%%#v = %s", s)
	}
	if s := (Redis{Addr: "x:1"}).String(); strings.Contains(s, redacted) {
		t.Errorf("an empty password is shown as redacted: %s", s)
	}
}
