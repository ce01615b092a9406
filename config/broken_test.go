package config

import (
	"strings"
	"testing"
)

// base is a small valid file; broken cases are edits of it.
const base = `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    schema: '{"type": "string"}'
keys:
  k: {type: INT64}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f1]
anchors:
  a:
    source: s
    key: [k]
    features:
      f1: {type: INT32}
`

// withMat returns base with extra lines added to its materialization.
func withMat(extra string) string {
	return strings.Replace(base, "    features: [f1]\n", "    features: [f1]\n"+extra, 1)
}

// want is one expected error: its position and part of its message.
type want struct {
	line, col int
	msg       string
}

var brokenTests = []struct {
	name string
	src  string
	env  map[string]string
	want []want
}{
	{"unknown top-level field", `
sources: {}
materialisations: {}
`, nil, []want{{2, 1, `unknown field "materialisations"; did you mean "materializations"? (allowed: sources, keys, anchors, online_store, materializations)`}}},
	{"unknown kafka field", `
sources:
  s:
    kafka:
      broker: ["b:9092"]
      topics: [t]
    format: json
`, nil, []want{
		{3, 5, `source "s": kafka.brokers is required`},
		{4, 7, `source "s": kafka: unknown field "broker"; did you mean "brokers"?`},
	}},
	{"duplicate source", `
sources:
  s: {kafka: {brokers: ["b:9092"], topics: [t]}, format: json}
  s: {kafka: {brokers: ["b:9092"], topics: [u]}, format: json}
`, nil, []want{{3, 3, `sources: duplicate source "s" (first at line 2)`}}},
	{"duplicate field", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    format: json
    format: avro
`, nil, []want{{5, 5, `source "s": duplicate field "format" (first at line 4)`}}},
	{"duplicate feature in one anchor", base + `  b:
    source: s
    key: k
    features:
      f2: {type: INT32}
      f2: {type: INT64}
`, nil, []want{{22, 7, `anchor "b": features: duplicate feature "f2" (first at line 21)`}}},
	{"duplicate feature across anchors", base + `  b:
    source: s
    key: [k]
    features:
      f1: {type: INT64}
`, nil, []want{{21, 7, `feature "f1" is already defined in anchor "a" at line 16: feature names are unique across anchors`}}},
	{"duplicate top-level field", base + "keys:\n  k2: {type: STRING}\n", nil,
		[]want{{17, 1, `duplicate field "keys" (first at line 5)`}}},
	{"missing brokers", `
sources:
  s:
    kafka: {topics: [t]}
    format: json
`, nil, []want{{3, 5, `source "s": kafka.brokers is required (host:port of at least one broker)`}}},
	{"empty topics", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: []
    format: json
`, nil, []want{{5, 15, `source "s": kafka.topics: is empty; want (at least one topic)`}}},
	{"broker without port", `
sources:
  s:
    kafka: {brokers: ["b:9092", localhost], topics: [t]}
    format: json
`, nil, []want{{3, 33, `source "s": kafka.brokers: broker "localhost": want host:port`}}},
	{"bad topic name", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [ok, "driver trips"]}
    format: json
`, nil, []want{{3, 47, `topic "driver trips": a topic name has only letters, digits, '.', '_' and '-'`}}},
	{"unknown format", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    format: protobuf
`, nil, []want{{4, 13, `source "s": format: unknown value "protobuf" (want one of avro, confluent, json)`}}},
	{"avro without schema", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
`, nil, []want{{2, 3, `source "s": schema is required for format avro`}}},
	{"schema JSON error in a literal block", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    schema: |
      {
        "type": "record",
        "fields": [,]
      }
`, nil, []want{{7, 20, `source "s": schema: invalid JSON: invalid character ',' looking for beginning of value`}}},
	{"schema JSON cut short", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    schema: '{"type": "record",
      "fields": ['
`, nil, []want{{5, 18, `schema: invalid JSON: unexpected end of JSON input`}}},
	{"schema is a mapping", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    schema: {type: string}
`, nil, []want{{4, 13, `source "s": schema: want the schema's JSON as text, got a mapping`}}},
	{"confluent without registry", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    format: confluent
`, nil, []want{{2, 3, `source "s": registry is required for format confluent`}}},
	{"registry with avro", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    schema: '"string"'
    registry: {url: "http://r:8081"}
`, nil, []want{{5, 5, `source "s": registry: is only used with format confluent`}}},
	{"registry url", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t]}
    format: confluent
    registry: {url: "r:8081", username: u}
`, nil, []want{
		{5, 21, `source "s": registry.url: want an http:// or https:// URL`},
		{5, 31, `registry.username: username without password`},
	}},
	{"unknown start", `
sources:
  s:
    kafka: {brokers: ["b:9092"], topics: [t], start: oldest}
    format: json
`, nil, []want{{3, 54, `source "s": kafka.start: unknown value "oldest" (want latest or earliest)`}}},
	{"unknown protocol", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {protocol: SASL}
    format: json
`, nil, []want{{6, 28, `kafka.security.protocol: unknown value "SASL" (want one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)`}}},
	{"unknown mechanism", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security:
        protocol: sasl_ssl
        mechanism: GSSAPI
        username: u
        password: p
    format: json
`, nil, []want{{8, 20, `kafka.security.mechanism: unknown value "GSSAPI" (want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`}}},
	{"mechanism without SASL", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {protocol: SSL, mechanism: PLAIN}
    format: json
`, nil, []want{{6, 33, `kafka.security.mechanism: is only used with protocol SASL_PLAINTEXT or SASL_SSL`}}},
	{"SASL username without password", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security:
        protocol: SASL_SSL
        username: $ConnectionString
    format: json
`, nil, []want{{8, 9, `kafka.security.username: username without password: SASL needs both`}}},
	{"SASL without credentials", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {protocol: SASL_PLAINTEXT}
    format: json
`, nil, []want{{6, 7, `kafka.security: protocol SASL_PLAINTEXT needs username and password`}}},
	{"cert_file without key_file", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security:
        protocol: SSL
        cert_file: client.pem
    format: json
`, nil, []want{{8, 9, `kafka.security.cert_file: cert_file without key_file`}}},
	{"TLS file without TLS", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security: {ca_file: ca.pem}
    format: json
`, nil, []want{{6, 18, `kafka.security.ca_file: is only used with protocol SSL or SASL_SSL`}}},
	{"unset variable", `
sources:
  s:
    kafka:
      brokers: ["b:9092"]
      topics: [t]
      security:
        protocol: SASL_SSL
        username: $ConnectionString
        password: "${EVENTHUB_CONN}"
    format: json
`, nil, []want{{9, 19, `kafka.security.password: environment variable EVENTHUB_CONN is not set (write ${EVENTHUB_CONN:-default} to give a default)`}}},
	{"unterminated variable", `
online_store:
  redis: {addr: "${REDIS_ADDR"}
`, nil, []want{{2, 17, `online_store.redis.addr: unterminated "${"`}}},
	{"unknown key type", `
keys:
  k: {type: LONG}
`, nil, []want{{2, 13, `key "k": type: unknown key type "LONG" (want one of BOOL, INT32, INT64, FLOAT, DOUBLE, STRING, BYTES)`}}},
	{"key without type", `
keys:
  k:
    column: driver_id
`, nil, []want{{2, 3, `key "k": type is required (one of BOOL, INT32, INT64, FLOAT, DOUBLE, STRING, BYTES)`}}},
	{"unknown feature type", strings.Replace(base, "f1: {type: INT32}", "f1: {type: INTEGER}", 1), nil,
		[]want{{16, 18, `feature "f1": type: unknown feature type "INTEGER" (want one of BOOLEAN, INT32,`}}},
	{"feature without type", strings.Replace(base, "f1: {type: INT32}", "f1: {transform: x + 1}", 1), nil,
		[]want{{16, 7, `feature "f1": type is required`}}},
	{"feature name too short", strings.ReplaceAll(base, "f1", "f"), nil,
		[]want{{16, 7, `feature "f": invalid name: a feature name is a letter or '_' then at least one letter, digit or '_' (^[a-zA-Z_][a-zA-Z0-9_]+$)`}}},
	{"feature name with a dash", strings.ReplaceAll(base, "f1", "trip-count"), nil,
		[]want{{16, 7, `feature "trip-count": invalid name`}}},
	{"empty transform", strings.Replace(base, "f1: {type: INT32}", `f1: {type: INT32, transform: ""}`, 1), nil,
		[]want{{16, 36, `feature "f1": transform: is empty; leave it out to read the field "f1"`}}},
	{"undefined source", strings.Replace(base, "source: s", "source: src", 1), nil,
		[]want{{13, 13, `anchor "a": source "src" is not defined (sources: s)`}}},
	{"undefined key", strings.Replace(base, "key: [k]", "key: [k, rider_id]", 1), nil,
		[]want{{14, 14, `anchor "a": key "rider_id" is not defined (keys: k)`}}},
	{"key listed twice", strings.Replace(base, "key: [k]", "key: [k, k]", 1), nil,
		[]want{{14, 14, `anchor "a": key "k" is listed twice`}}},
	{"empty key list", strings.Replace(base, "key: [k]", "key: []", 1), nil,
		[]want{{14, 10, `anchor "a": key: is empty; want (a list of key names)`}}},
	{"anchor without key", strings.Replace(base, "    key: [k]\n", "", 1), nil,
		[]want{{12, 3, `anchor "a": key is required (a list of key names)`}}},
	{"anchor without features", `
sources:
  s: {kafka: {brokers: ["b:9092"], topics: [t]}, format: json}
keys:
  k: {type: STRING}
anchors:
  a: {source: s, key: k, features: {}}
`, nil, []want{{6, 36, `anchor "a": features: is empty; an anchor defines at least one feature`}}},
	{"undefined feature", strings.Replace(base, "features: [f1]", "features: [f1, f_2]", 1), nil,
		[]want{{10, 20, `materialization "m": feature "f_2" is not defined (features: f1)`}}},
	{"misspelt feature", strings.Replace(base, "features: [f1]", "features: [f11]", 1), nil,
		[]want{{10, 16, `materialization "m": feature "f11" is not defined; did you mean "f1"?`}}},
	{"feature listed twice", strings.Replace(base, "features: [f1]", "features: [f1, f1]", 1), nil,
		[]want{{10, 20, `materialization "m": feature "f1" is listed twice`}}},
	{"features with different keys", strings.NewReplacer("keys:\n", "keys:\n  k2: {type: STRING}\n", "[f1]", "[f1, f2]").Replace(base) + `  b:
    source: s
    key: [k2]
    features:
      f2: {type: INT32}
`, nil, []want{{11, 20, `materialization "m": feature "f2" of anchor "b" is keyed by [k2], but "f1" of anchor "a" by [k]: all features of a materialization share one key`}}},
	{"no features to materialize", strings.Replace(base, "features: [f1]", "features: []", 1), nil,
		[]want{{10, 15, `materialization "m": features: is empty; want (a list of at least one feature name)`}}},
	{"materialization without features", strings.Replace(base, "    features: [f1]\n", "", 1), nil,
		[]want{{8, 3, `materialization "m": features is required`}}},
	{"materialization without sink", strings.Replace(base, "    sink: {redis: {table: t}}\n", "", 1), nil,
		[]want{{8, 3, `materialization "m": sink is required (sink: {redis: {table: ...}})`}}},
	{"sink without table", strings.Replace(base, "{table: t}", "{ttl: 1h}", 1), nil,
		[]want{{9, 12, `materialization "m": sink.redis.table is required`}}},
	{"batch_size 0", strings.Replace(base, "{table: t}", "{table: t, batch_size: 0}", 1), nil,
		[]want{{9, 42, `materialization "m": sink.redis.batch_size: must be at least 1, got 0`}}},
	{"batch_size not a number", strings.Replace(base, "{table: t}", "{table: t, batch_size: lots}", 1), nil,
		[]want{{9, 42, `sink.redis.batch_size: want an integer, got "lots"`}}},
	{"ttl without unit", strings.Replace(base, "{table: t}", "{table: t, ttl: 3600}", 1), nil,
		[]want{{9, 35, `sink.redis.ttl: "3600" has no unit; write a duration with a unit, such as 10s, 500ms or 1m30s`}}},
	{"ttl under 1ms", strings.Replace(base, "{table: t}", "{table: t, ttl: 500us}", 1), nil,
		[]want{{9, 35, `sink.redis.ttl: must be at least 1ms (Redis expires keys in whole milliseconds), got 500µs`}}},
	{"negative timeout", withMat("    timeout: -1s\n"), nil,
		[]want{{11, 14, `materialization "m": timeout: must not be negative, got -1s`}}},
	{"bad flush_interval", strings.Replace(base, "{table: t}", "{table: t, flush_interval: soon}", 1), nil,
		[]want{{9, 46, `sink.redis.flush_interval: want a duration such as 10s, 500ms or 1m30s, got "soon"`}}},
	{"unknown ordering", strings.Replace(base, "{table: t}", "{table: t, ordering: newest}", 1), nil,
		[]want{{9, 40, `sink.redis.ordering: unknown value "newest" (want event or arrival)`}}},
	{"unknown on_error", withMat("    on_error: ignore\n"), nil,
		[]want{{11, 15, `materialization "m": on_error: unknown value "ignore" (want one of skip, dead-letter, stop)`}}},
	{"dead-letter without topic", withMat("    on_error: dead-letter\n"), nil,
		[]want{{8, 3, `materialization "m": dead_letter is required with on_error: dead-letter`}}},
	{"dead_letter without dead-letter", withMat("    dead_letter: failed\n"), nil,
		[]want{{11, 5, `materialization "m": dead_letter: is only used with on_error: dead-letter`}}},
	{"redis addr without port", `
online_store:
  redis:
    addr: localhost
`, nil, []want{{3, 11, `online_store.redis.addr: want host:port, got "localhost"`}}},
	{"redis db and tls", `
online_store:
  redis: {db: one, tls: yes}
`, nil, []want{
		{2, 15, `online_store.redis.db: want an integer, got "one"`},
		{2, 25, `online_store.redis.tls: want true or false, got "yes"`},
	}},
	{"redis username without password", `
online_store:
  redis: {username: feathr}
`, nil, []want{{2, 11, `online_store.redis.username: username without password`}}},
	{"a source that is not a mapping", `
sources:
  s: kafka
`, nil, []want{{2, 6, `source "s": want a mapping, got a scalar`}}},
	{"a list where a mapping belongs", `
- sources
`, nil, []want{{1, 1, `want a mapping of sources, keys, anchors, online_store and materializations, got a list`}}},
	{"empty file", "# nothing\n", nil, []want{{1, 1, `the file is empty`}}},
	{"two documents", "keys: {}\n---\nkeys: {}\n", nil, []want{{2, 1, `a second YAML document`}}},
	{"YAML syntax error", `
keys:
  k: {type: INT64
anchors: {}
`, nil, []want{{2, 3, `invalid YAML: did not find expected ',' or '}'`}}},
	{"tab indentation", "keys:\n\tk: {type: INT64}\n", nil, []want{{2, 1, `invalid YAML: found character that cannot start any token`}}},
}

func TestBroken(t *testing.T) {
	if n := len(brokenTests); n < 30 {
		t.Fatalf("only %d broken configs", n)
	}
	for _, tt := range brokenTests {
		t.Run(tt.name, func(t *testing.T) { checkBroken(t, tt.src, tt.env, tt.want) })
	}
}

// checkBroken parses src and checks its errors against want, in order.
func checkBroken(t *testing.T, src string, env map[string]string, want []want) {
	t.Helper()
	_, errs := parseErrs(t, yamlText(src), env)
	for _, err := range errs {
		if err.File != "test.yaml" {
			t.Errorf("error %q: file %q", err, err.File)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if i >= len(errs) {
			break
		}
		got := errs[i]
		if got.Line != w.line || got.Column != w.col || !strings.Contains(got.Msg, w.msg) {
			t.Errorf("error %d:\n got %d:%d: %s\nwant %d:%d: ...%s...", i, got.Line, got.Column, got.Msg, w.line, w.col, w.msg)
		}
	}
}
