package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
)

// clearLocators drops the unexported locators so Files compare with
// reflect.DeepEqual.
func clearLocators(f *File) {
	for _, s := range f.Sources {
		s.schemaLoc = nil
	}
	for _, a := range f.Anchors {
		for _, ft := range a.Features {
			ft.transformLoc = nil
		}
	}
}

func TestParseAllFields(t *testing.T) {
	src := yamlText(`
		sources:
		  src:
		    kafka:
		      brokers: ["k1:9093", "k2:9093"]
		      topics: [trips, trips-eu]
		      group: my-group
		      start: EARLIEST
		      security:
		        protocol: sasl_ssl
		        mechanism: scram-sha-512
		        username: "$ConnectionString"
		        password: "${CONN}"
		        ca_file: ${CA}
		        cert_file: ${CERT}
		        key_file: ${KEY}
		        insecure_skip_verify: true
		    format: confluent
		    schema: '"string"'
		    timestamp: ts
		    registry: {url: "https://registry:8081", username: ru, password: "${REG_PW}"}
		keys:
		  driver_id: {column: driver, type: int64, full_name: nyc driver id, description: driver id}
		  city: {type: STRING}
		anchors:
		  an:
		    source: src
		    key: [driver_id, city]
		    features:
		      f_a: {type: int32, transform: "x + 1"}
		      f_b: {type: FLOAT_VECTOR}
		online_store:
		  redis: {addr: "redis:6380", username: u, password: "${REDIS_PASSWORD}", tls: true, db: 3}
		materializations:
		  mat:
		    sink: {redis: {table: tbl, ttl: 1h30m, ordering: ARRIVAL, batch_size: 0x10, flush_interval: 0}}
		    features: f_a
		    timeout: 10s
		    on_error: dead-letter
		    dead_letter: trips-failed
	`)
	ca, cert, key := writePEM(t, "ca.pem", "CERTIFICATE"), writePEM(t, "client.pem", "CERTIFICATE"), writePEM(t, "client.key", "PRIVATE KEY")
	f := mustParse(t, src, map[string]string{"CONN": "Endpoint=sb://x", "REG_PW": "rpw", "REDIS_PASSWORD": "rp",
		"CA": ca, "CERT": cert, "KEY": key})
	clearLocators(f)

	an := &Anchor{
		Name: "an", Pos: Pos{25, 3}, Source: "src", SourcePos: Pos{26, 13},
		Key: []string{"driver_id", "city"}, KeyPos: Pos{27, 10}, KeyEntryPos: []Pos{{27, 11}, {27, 22}},
	}
	an.Features = []*Feature{
		{Name: "f_a", Pos: Pos{29, 7}, Type: feature.Int32, TypePos: Pos{29, 19}, Transform: "x + 1", TransformPos: Pos{29, 38}, Anchor: an},
		{Name: "f_b", Pos: Pos{30, 7}, Type: feature.FloatVector, TypePos: Pos{30, 19}, TransformPos: Pos{30, 7}, Anchor: an},
	}
	want := &File{
		Path: "test.yaml",
		Sources: []*Source{{
			Name: "src", Pos: Pos{2, 3},
			Kafka: Kafka{
				Brokers: []string{"k1:9093", "k2:9093"}, Topics: []string{"trips", "trips-eu"},
				Group: "my-group", Start: StartEarliest, Isolation: ReadCommitted, Pos: Pos{3, 5},
				Security: Security{
					Protocol: ProtocolSASLSSL, Mechanism: MechanismSCRAMSHA512,
					Username: "$ConnectionString", Password: "Endpoint=sb://x",
					CAFile: ca, CertFile: cert, KeyFile: key,
					InsecureSkipVerify: true, Pos: Pos{8, 7},
				},
			},
			Format: FormatConfluent, FormatPos: Pos{17, 13},
			Schema: `"string"`, SchemaPos: Pos{18, 14},
			Timestamp: "ts", TimestampPos: Pos{19, 16},
			Registry:      &Registry{URL: "https://registry:8081", Username: "ru", Password: "rpw", Pos: Pos{20, 5}},
			MaxFutureSkew: DefaultMaxFutureSkew, MaxRecordBytes: DefaultMaxRecord,
		}},
		Keys: []*Key{
			{Name: "driver_id", Pos: Pos{22, 3}, Column: "driver", ColumnPos: Pos{22, 23}, Type: feature.KeyInt64, TypePos: Pos{22, 37},
				FullName: "nyc driver id", Description: "driver id"},
			{Name: "city", Pos: Pos{23, 3}, Column: "city", ColumnPos: Pos{23, 3}, Type: feature.KeyString, TypePos: Pos{23, 16}},
		},
		Anchors: []*Anchor{an},
		OnlineStore: OnlineStore{Redis: Redis{
			Addr: "redis:6380", Username: "u", Password: "rp", TLS: true, DB: 3, Pos: Pos{32, 3},
		}},
		Materializations: []*Materialization{{
			Name: "mat", Pos: Pos{34, 3},
			Sink:     RedisSink{Table: "tbl", TTL: 90 * time.Minute, Ordering: OrderArrival, BatchSize: 16, FlushInterval: 0},
			Features: []string{"f_a"}, FeaturesPos: Pos{36, 15}, FeaturePos: []Pos{{36, 15}},
			Timeout: 10 * time.Second, OnError: DeadLetter, DeadLetter: "trips-failed",
		}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got\n%s\nwant\n%s", dumpFile(f), dumpFile(want))
	}
}

// dumpFile prints a File for a test failure, following its pointers.
func dumpFile(f *File) string {
	var b strings.Builder
	b.WriteString(f.Path + "\n")
	for _, s := range f.Sources {
		b.WriteString(sprintf("source %+v\n", *s))
		if s.Registry != nil {
			b.WriteString(sprintf("  registry %+v\n", *s.Registry))
		}
	}
	for _, k := range f.Keys {
		b.WriteString(sprintf("key %+v\n", *k))
	}
	for _, a := range f.Anchors {
		b.WriteString(sprintf("anchor %s %v %q %v %q %v %v\n", a.Name, a.Pos, a.Source, a.SourcePos, a.Key, a.KeyPos, a.KeyEntryPos))
		for _, ft := range a.Features {
			c := *ft
			c.Anchor = nil
			b.WriteString(sprintf("  feature %+v\n", c))
		}
	}
	b.WriteString(sprintf("online_store %+v\n", f.OnlineStore))
	for _, m := range f.Materializations {
		b.WriteString(sprintf("materialization %+v\n", *m))
	}
	return b.String()
}

func TestParseDefaults(t *testing.T) {
	f := mustParse(t, yamlText(`
		sources:
		  s:
		    kafka: {brokers: ["b:9092"], topics: [t]}
		    schema: '"long"'
		keys:
		  k: {type: INT64}
		anchors:
		  a:
		    source: s
		    key: k
		    features:
		      trips_today: {type: INT32}
		materializations:
		  m:
		    sink: {redis: {table: t}}
		    features: [trips_today]
	`), nil)
	s := f.Sources[0]
	if s.Format != FormatAvro || s.Kafka.Group != "feathr-s" || s.Kafka.Start != StartLatest ||
		s.Kafka.Security.Protocol != ProtocolPlaintext || s.Kafka.Security.Mechanism != 0 ||
		s.Timestamp != "" || s.Registry != nil || s.FormatPos != s.Pos || s.TimestampPos != s.Pos {
		t.Errorf("source defaults: %+v", *s)
	}
	if k := f.Keys[0]; k.Column != "k" || k.ColumnPos != k.Pos {
		t.Errorf("key defaults: %+v", *k)
	}
	a := f.Anchors[0]
	if !reflect.DeepEqual(a.Key, []string{"k"}) || a.KeyEntryPos[0] != (Pos{10, 10}) {
		t.Errorf("single key: %q at %v", a.Key, a.KeyEntryPos)
	}
	ft := a.Features[0]
	if ft.Transform != "" || ft.Expr() != "trips_today" || ft.TransformPos != ft.Pos || ft.Anchor != a {
		t.Errorf("feature defaults: %+v", *ft)
	}
	if r := f.OnlineStore.Redis; r != (Redis{Addr: "localhost:6379"}) {
		t.Errorf("redis defaults: %+v", r)
	}
	m := f.Materializations[0]
	if m.Sink != (RedisSink{Table: "t", Ordering: OrderEvent, BatchSize: 1000, FlushInterval: 5 * time.Millisecond}) ||
		m.Timeout != 0 || m.OnError != Skip || m.DeadLetter != "" {
		t.Errorf("materialization defaults: %+v", *m)
	}
}

func TestParseSASLDefaultMechanism(t *testing.T) {
	f := mustParse(t, yamlText(`
		sources:
		  s:
		    kafka:
		      brokers: ["ns.servicebus.windows.net:9093"]
		      topics: [t]
		      security: {protocol: SASL_SSL, username: $ConnectionString, password: $$ecret}
		    format: json
	`), nil)
	sec := f.Sources[0].Kafka.Security
	if sec.Mechanism != MechanismPlain || sec.Username != "$ConnectionString" || sec.Password != "$ecret" {
		t.Errorf("got %+v", sec)
	}
}

func TestParseOnlyAnchors(t *testing.T) {
	f := mustParse(t, yamlText(`
		sources:
		  s: {kafka: {brokers: ["b:9092"], topics: [t]}, format: json}
		keys:
		  k: {type: STRING}
		anchors:
		  a: {source: s, key: [k], features: {f1: {type: DOUBLE, transform: "x * 2.0"}}}
	`), nil)
	if len(f.Materializations) != 0 || f.Feature("f1") == nil {
		t.Errorf("got %s", dumpFile(f))
	}
}

func TestParseFormats(t *testing.T) {
	for _, tt := range []struct {
		extra, format string
	}{
		{"format: json\n", "json"},
		{"format: JSON\n    schema: '{\"type\": \"record\", \"name\": \"r\", \"fields\": []}'\n", "json"},
		{"format: Avro\n    schema: '\"int\"'\n", "avro"},
		{"format: confluent\n    registry: {url: \"http://r:8081\"}\n", "confluent"},
	} {
		src := "sources:\n  s:\n    kafka: {brokers: [\"b:9092\"], topics: [t]}\n    " + tt.extra
		f := mustParse(t, src, nil)
		if got := f.Sources[0].Format.String(); got != tt.format {
			t.Errorf("%q: format %q, want %q", tt.extra, got, tt.format)
		}
	}
}

func TestParseMergeKeysAndAliases(t *testing.T) {
	f := mustParse(t, yamlText(`
		sources:
		  eu: &src
		    kafka: &kafka {brokers: ["b:9092"], topics: [eu]}
		    format: json
		  us:
		    <<: *src
		    kafka:
		      <<: *kafka
		      topics: [us]
	`), nil)
	if len(f.Sources) != 2 {
		t.Fatalf("got %d sources", len(f.Sources))
	}
	us := f.Sources[1]
	if us.Format != FormatJSON || us.Kafka.Topics[0] != "us" || us.Kafka.Brokers[0] != "b:9092" || us.Kafka.Group != "feathr-us" {
		t.Errorf("us: %+v", *us)
	}
}

func TestParsePartialFile(t *testing.T) {
	f, errs := parseErrs(t, withMat("    timeout: soon\n"), nil)
	if len(errs) != 1 {
		t.Fatalf("errors: %v", errs)
	}
	if len(f.Sources) != 1 || len(f.Anchors) != 1 || len(f.Materializations) != 1 || f.Feature("f1") == nil {
		t.Errorf("partial file: %s", dumpFile(f))
	}
}

func TestParseAllErrorsAtOnce(t *testing.T) {
	_, errs := parseErrs(t, yamlText(`
		sources:
		  s:
		    kafka: {brokers: [b], topics: ["a b"]}
		    format: xml
		keys:
		  k: {type: LONG}
		anchors:
		  a: {source: nope, key: [kk], features: {x: {type: INT}}}
		materializations:
		  m: {sink: {redis: {table: t, batch_size: -1}}, features: [y], timeout: 5}
	`), nil)
	if len(errs) != 11 {
		t.Errorf("got %d errors, want 11:\n%v", len(errs), errs)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Pos.Before(errs[i-1].Pos) {
			t.Errorf("errors not sorted:\n%v", errs)
		}
	}
}

func TestLoad(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestLookups(t *testing.T) {
	f := mustParse(t, base, nil)
	if f.Source("s") != f.Sources[0] || f.Source("x") != nil ||
		f.Key("k") != f.Keys[0] || f.Key("x") != nil ||
		f.Anchor("a") != f.Anchors[0] || f.Anchor("x") != nil ||
		f.Feature("f1") != f.Anchors[0].Features[0] || f.Feature("x") != nil ||
		f.Materialization("m") != f.Materializations[0] || f.Materialization("x") != nil {
		t.Error("lookups do not find what they should")
	}
	if keys := f.AnchorKeys(f.Anchors[0]); len(keys) != 1 || keys[0] != f.Keys[0] {
		t.Errorf("AnchorKeys: %v", keys)
	}
}

func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 {kafka: {brokers: [\"b:1\"], topics: [t]}, format: json}\n")
	for i := 1; i < 40; i++ {
		b.WriteString(sprintf("x%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d]}\n", i, i, i-1, i-1, i-1, i-1))
	}
	b.WriteString("sources:\n  s: *a39\n")
	list := "l0: &l0 [f1, f1, f1, f1, f1, f1, f1, f1, f1, f1]\n"
	b.WriteString(list)
	b.WriteString("materializations:\n")
	for i := 0; i < 2000; i++ {
		b.WriteString(sprintf("  m%d: {sink: {redis: {table: t}}, features: *l0}\n", i))
	}
	_, errs := parseErrs(t, b.String(), nil)
	if len(errs) == 0 {
		t.Fatal("no errors")
	}
}

func TestParseSourceLimits(t *testing.T) {
	base := "sources:\n  s:\n    kafka: {brokers: [\"b:9092\"], topics: [t]%s}\n    format: json\n%s"
	for _, tt := range []struct {
		kafka, extra string
		skew         time.Duration
		size         int
		iso          Isolation
	}{
		{"", "", time.Hour, 1 << 20, ReadCommitted},
		{", isolation: READ_UNCOMMITTED", "    max_future_skew: 5m\n    max_record_bytes: 2MiB\n", 5 * time.Minute, 2 << 20, ReadUncommitted},
		{", isolation: read_committed", "    max_record_bytes: 1500\n", time.Hour, 1500, ReadCommitted},
		{"", "    max_record_bytes: 3 KB\n", time.Hour, 3000, ReadCommitted},
	} {
		f := mustParse(t, fmt.Sprintf(base, tt.kafka, tt.extra), nil)
		s := f.Sources[0]
		if s.MaxFutureSkew != tt.skew || s.MaxRecordBytes != tt.size || s.Kafka.Isolation != tt.iso {
			t.Errorf("%q %q: skew %v, size %d, isolation %v; want %v, %d, %v", tt.kafka, tt.extra, s.MaxFutureSkew, s.MaxRecordBytes, s.Kafka.Isolation, tt.skew, tt.size, tt.iso)
		}
	}
	for _, tt := range []struct{ kafka, extra, want string }{
		{"", "    max_future_skew: 0s\n", "5:22: source \"s\": max_future_skew: must be more than 0"},
		{"", "    max_future_skew: 10\n", "5:22: source \"s\": max_future_skew: \"10\" has no unit"},
		{"", "    max_record_bytes: 0\n", "5:23: source \"s\": max_record_bytes: want a size in bytes from 1 to 2GiB"},
		{"", "    max_record_bytes: 1.5MiB\n", "5:23: source \"s\": max_record_bytes: want a size in bytes"},
		{", isolation: serializable", "", "3:58: source \"s\": kafka.isolation: unknown value \"serializable\" (want read_committed or read_uncommitted)"},
	} {
		_, err := Parse("f.yaml", []byte(fmt.Sprintf(base, tt.kafka, tt.extra)), nil)
		if err == nil || !strings.Contains(err.Error(), "f.yaml:"+tt.want) {
			t.Errorf("%q %q: error %v, want one containing f.yaml:%s", tt.kafka, tt.extra, err, tt.want)
		}
	}
}
