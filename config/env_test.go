package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "PW": "s3cr3t"}
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${A}${A}", want: "alphaalpha"},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${UNSET:-}", want: ""},
		{in: "${A:-fallback}", want: "alpha"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${UNSET:-a:-b}", want: "a:-b"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$$", want: "$$"},
		{in: "$ConnectionString", want: "$ConnectionString"},
		{in: "a$", want: "a$"},
		{in: "$", want: "$"},
		{in: "cost: $5", want: "cost: $5"},
		{in: "${UNSET}", err: "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{in: "${A", err: `unterminated "${"`},
		{in: "${}", err: "invalid variable name"},
		{in: "${1X}", err: "invalid variable name"},
		{in: "${A B}", err: "invalid variable name"},
	} {
		got, errs := expand(tt.in, env(vars))
		switch {
		case tt.err == "" && len(errs) > 0:
			t.Errorf("expand(%q): %v", tt.in, errs)
		case tt.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.err)):
			t.Errorf("expand(%q): errors %v, want %q", tt.in, errs, tt.err)
		case tt.err == "" && got != tt.want:
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandReportsEveryVariable(t *testing.T) {
	_, errs := expand("${X}:${Y}", env(nil))
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "X") || !strings.Contains(errs[1].Error(), "Y") {
		t.Errorf("got %v", errs)
	}
}

const envSrc = `sources:
  s:
    kafka:
      brokers: ["${BROKER:-localhost:9092}"]
      topics: ["${TOPIC}"]
      group: "$${literal}"
      security:
        protocol: SASL_SSL
        username: $ConnectionString
        password: ${EVENTHUB_CONN}
    format: json
    # ${IN_A_COMMENT} is not expanded
online_store:
  redis: {addr: "${REDIS_HOST}:${REDIS_PORT:-6379}", password: "${REDIS_PASSWORD}", db: "${REDIS_DB:-2}", tls: "${TLS:-true}"}
`

func TestParseExpandsValues(t *testing.T) {
	secret := "Endpoint=sb://ns/;SharedAccessKey=hunter2"
	f := mustParse(t, envSrc, map[string]string{
		"TOPIC": "driver-trips", "EVENTHUB_CONN": secret, "REDIS_HOST": "redis", "REDIS_PASSWORD": "pw",
	})
	k := f.Sources[0].Kafka
	if k.Brokers[0] != "localhost:9092" || k.Topics[0] != "driver-trips" || k.Group != "${literal}" ||
		k.Security.Username != "$ConnectionString" || k.Security.Password != secret {
		t.Errorf("kafka: %+v", k)
	}
	if r := f.OnlineStore.Redis; r.Addr != "redis:6379" || r.Password != "pw" || r.DB != 2 || !r.TLS {
		t.Errorf("redis: %+v", r)
	}
}

func TestParseKeysAreNotExpanded(t *testing.T) {
	f := mustParse(t, "keys:\n  ${K}: {type: STRING}\n", nil)
	if f.Keys[0].Name != "${K}" {
		t.Errorf("key name %q", f.Keys[0].Name)
	}
}

func TestParseUnsetVariables(t *testing.T) {
	_, errs := parseErrs(t, envSrc, map[string]string{"REDIS_PASSWORD": "pw"})
	want := []want{
		{5, 16, "source \"s\": kafka.topics: environment variable TOPIC is not set"},
		{10, 19, "source \"s\": kafka.security.password: environment variable EVENTHUB_CONN is not set"},
		{14, 17, "online_store.redis.addr: environment variable REDIS_HOST is not set"},
	}
	if len(errs) != len(want) {
		t.Fatalf("got %v", errs)
	}
	for i, w := range want {
		if e := errs[i]; e.Line != w.line || e.Column != w.col || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("got %v, want %d:%d: %s", e, w.line, w.col, w.msg)
		}
	}
}

// TestSecretsNeverInErrors breaks every check around secrets and makes
// sure that no message quotes them.
func TestSecretsNeverInErrors(t *testing.T) {
	const secret = "Sup3rSecretValue"
	src := `sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {protocol: SSL, username: u, password: "${PW}", mechanism: "${PW}"}
    format: confluent
    registry: {url: "${PW}", password: "${PW}"}
  s2:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {protocol: SASL_SSL, password: "` + secret + `"}
    format: json
online_store:
  redis: {username: "${PW}", password: "${PW}", db: "${PW}", tls: "${PW}", addr: "${PW}:1"}
`
	_, errs := parseErrs(t, src, map[string]string{"PW": secret})
	if len(errs) < 5 {
		t.Fatalf("want several errors, got %v", errs)
	}
	for _, line := range strings.Split(errs.Error(), "\n") {
		// The db, tls and mechanism are not secrets: they quote what
		// they were given. Every other message must not.
		if strings.Contains(line, secret) && !strings.Contains(line, ".db:") &&
			!strings.Contains(line, ".tls:") && !strings.Contains(line, ".mechanism:") {
			t.Errorf("a message shows a secret: %s", line)
		}
	}
}
