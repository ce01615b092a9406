package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// secTable is the Redis table of the security tests' materialization.
const secTable = "secureTrips"

// refuseBound bounds how long feathr may take to give up on credentials or
// a certificate that are refused: it must not retry for ever.
const refuseBound = 45 * time.Second

// secConfig is a feathr file that reads DriverTrips from topic on brokers
// with the given kafka.security (a YAML flow mapping, "" for none) and
// writes f_trips = trips_today + 1 to the Redis described by redis (a YAML
// flow mapping).
func secConfig(brokers, topic, group, security, redis string) string {
	sec := ""
	if security != "" {
		sec = "\n      security: " + security
	}
	return fmt.Sprintf(`sources:
  trips:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: %q%s
    format: avro
    schema: |
      %s
    timestamp: datetime
keys:
  driver_id: {column: driver_id, type: INT64}
anchors:
  tripsAnchor:
    source: trips
    key: [driver_id]
    features:
      f_trips: {type: INT32, transform: "trips_today + 1"}
online_store:
  redis: %s
materializations:
  secureTrips:
    sink: {redis: {table: %s}}
    features: [f_trips]
`, brokers, topic, group, sec, strings.ReplaceAll(driverTripsSchema, "\n", "\n      "), redis, secTable)
}

// produceTrips creates topic on the plain listener brokers and produces
// trips to it as plain Avro with franz-go.
func produceTrips(t *testing.T, brokers, topic string, trips []trip) {
	t.Helper()
	testenv.CreateTopic(t, brokers, topic, 1)
	codec, err := goavro.NewCodec(driverTripsSchema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, tr := range trips {
		b, err := codec.BinaryFromNative(nil, map[string]any{
			"driver_id": tr.DriverID, "trips_today": tr.TripsToday, "datetime": time.UnixMicro(tr.Datetime),
		})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// checkNoSecrets fails the test when any secret appears in what feathr
// printed.
func checkNoSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("feathr printed the secret %q:\n%s", s, r)
		}
	}
}

// materializeAll runs feathr materialize over the whole topic in the
// environment env and checks that it read and wrote every event, without
// printing the secrets.
func materializeAll(t *testing.T, env []string, cfg string, n int, secrets ...string) {
	t.Helper()
	r := run(t, env, "", feathrBin, "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up", "--timeout", "90s")
	checkSummary(t, r, wantSummary{read: int64(n), written: int64(n), stopped: "caught-up"})
	checkNoSecrets(t, r, secrets...)
}

// wantTrips returns, for feathr multi-get, each driver's f_trips from its
// newest event.
func wantTrips(trips []trip) (keys []string, want map[string]map[string]any) {
	want = map[string]map[string]any{}
	for d, tr := range newestTrips(trips) {
		k := strconv.FormatInt(d, 10)
		keys = append(keys, k)
		want[k] = map[string]any{"f_trips": tr.TripsToday + 1}
	}
	return keys, want
}

// checkRedisTrips reads the features back with feathr get (each key) and
// multi-get (all keys), both with the store options args (e.g. --redis
// URL or -f FILE) and environment env.
func checkRedisTrips(t *testing.T, env []string, args []string, trips []trip, secrets ...string) {
	t.Helper()
	keys, want := wantTrips(trips)
	for _, k := range keys {
		r := run(t, env, "", feathrBin, append(append([]string{"get"}, args...), secTable, k, "f_trips")...)
		if r.code != 0 {
			t.Fatalf("feathr get: %s", r)
		}
		checkNoSecrets(t, r, secrets...)
		var got map[string]any
		decodeJSON(t, r.stdout, &got)
		checkEqual(t, "get "+k, got, want[k])
	}
	r := run(t, env, strings.Join(keys, "\n")+"\n", feathrBin, append(append([]string{"multi-get"}, args...), secTable, "-", "f_trips")...)
	if r.code != 0 {
		t.Fatalf("feathr multi-get: %s", r)
	}
	checkNoSecrets(t, r, secrets...)
	var got map[string]map[string]any
	decodeJSON(t, r.stdout, &got)
	checkEqual(t, "multi-get", got, want)
}

// refused runs feathr materialize, which must fail (exit 1) within
// refuseBound with an error that contains each of want and shows none of
// the secrets.
func refused(t *testing.T, env []string, cfg string, want []string, secrets ...string) {
	t.Helper()
	start := time.Now()
	r := run(t, env, "", feathrBin, "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	took := time.Since(start)
	if r.code != 1 {
		t.Fatalf("materialize: exit %d, want 1\n%s", r.code, r)
	}
	if took > refuseBound {
		t.Errorf("materialize gave up after %v, want within %v", took, refuseBound)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, r)
		}
	}
	checkNoSecrets(t, r, secrets...)
}

// writeSecret writes a password file readable only by its owner.
func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	return writeFile(t, "password", secret+"\n")
}

// TestSecureKafka runs feathr materialize, the binary, against a real
// Apache Kafka broker over each kind of secure listener: TLS with a
// custom CA, mutual TLS, SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and
// SASL_SSL PLAIN as Azure Event Hubs uses it (user $ConnectionString).
// Events produced on the broker's plain listener must reach Redis. Wrong
// passwords and untrusted certificates must end the run with exit 1, a
// clear error, and no secret printed. The test starts (and stops) the
// secure broker itself with scripts/kafka.sh.
func TestSecureKafka(t *testing.T) {
	k := testenv.StartSecureKafka(t)
	ca, cert, key := k.Certs.CAFile, k.Certs.ClientCert, k.Certs.ClientKey
	secrets := []string{k.PlainPassword, k.EventHubsPassword, k.ScramPassword}
	env := []string{
		"KAFKA_PLAIN_PASSWORD=" + k.PlainPassword,
		"KAFKA_SCRAM_PASSWORD=" + k.ScramPassword,
		"EVENTHUB_CONN=" + k.EventHubsPassword,
	}
	scramFile := writeSecret(t, k.ScramPassword)

	for _, c := range []struct {
		name, brokers, security string
	}{
		{"SSL custom CA", k.SSL, fmt.Sprintf(`{protocol: SSL, ca_file: %q}`, ca)},
		{"mutual TLS", k.MTLS, fmt.Sprintf(`{protocol: SSL, ca_file: %q, cert_file: %q, key_file: %q}`, ca, cert, key)},
		{"SASL_PLAINTEXT PLAIN", k.SASLPlaintext, fmt.Sprintf(`{protocol: SASL_PLAINTEXT, mechanism: PLAIN, username: %q, password: "${KAFKA_PLAIN_PASSWORD}"}`, k.PlainUser)},
		{"SCRAM-SHA-256", k.SASLPlaintext, fmt.Sprintf(`{protocol: SASL_PLAINTEXT, mechanism: SCRAM-SHA-256, username: %q, password: "${KAFKA_SCRAM_PASSWORD}"}`, k.ScramUser)},
		{"SCRAM-SHA-512 password_file", k.SASLPlaintext, fmt.Sprintf(`{protocol: SASL_PLAINTEXT, mechanism: SCRAM-SHA-512, username: %q, password_file: %q}`, k.ScramUser, scramFile)},
		{"SCRAM-SHA-512 over TLS", k.SASLSSL, fmt.Sprintf(`{protocol: SASL_SSL, mechanism: SCRAM-SHA-512, username: %q, password: "${KAFKA_SCRAM_PASSWORD}", ca_file: %q}`, k.ScramUser, ca)},
		{"Event Hubs form", k.SASLSSL, fmt.Sprintf(`{protocol: SASL_SSL, mechanism: PLAIN, username: "$ConnectionString", password: "${EVENTHUB_CONN}", ca_file: %q}`, ca)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			redisAddr := testenv.Redis(t)
			topic := testenv.TopicName(t)
			trips := makeTrips(12, 3, baseMicros)
			produceTrips(t, k.Plain, topic, trips)
			cfg := writeFile(t, "features.yaml", secConfig(c.brokers, topic, "feathr-e2e-"+topic, c.security, fmt.Sprintf("{addr: %q}", redisAddr)))
			materializeAll(t, env, cfg, len(trips), secrets...)
			checkRedisTrips(t, nil, []string{"--redis", "redis://" + redisAddr}, trips)
		})
	}

	wrongSCRAM := "wrong-" + k.ScramPassword
	wrongConn := strings.Replace(k.EventHubsPassword, "SharedAccessKey=", "SharedAccessKey=x", 1)
	refusedEnv := slices.Concat(env, []string{"WRONG_SCRAM=" + wrongSCRAM, "WRONG_CONN=" + wrongConn})
	for _, c := range []struct {
		name, brokers, security string
		want                    []string
	}{
		{"SCRAM wrong password", k.SASLPlaintext,
			fmt.Sprintf(`{protocol: SASL_PLAINTEXT, mechanism: SCRAM-SHA-256, username: %q, password: "${WRONG_SCRAM}"}`, k.ScramUser),
			[]string{"SASL Authentication failed", "check security.username and the password"}},
		{"Event Hubs wrong connection string", k.SASLSSL,
			fmt.Sprintf(`{protocol: SASL_SSL, username: "$ConnectionString", password: "${WRONG_CONN}", ca_file: %q}`, ca),
			[]string{"Invalid username or password", "check security.username and the password"}},
		{"untrusted CA", k.SSL, `{protocol: SSL}`,
			[]string{"certificate signed by unknown authority", "set security.ca_file"}},
		{"another CA", k.SASLSSL,
			fmt.Sprintf(`{protocol: SASL_SSL, mechanism: SCRAM-SHA-512, username: %q, password: "${KAFKA_SCRAM_PASSWORD}", ca_file: %q}`, k.ScramUser, testenv.NewCerts(t).CAFile),
			[]string{"certificate signed by unknown authority", "not signed by a CA in ca_file"}},
		{"mutual TLS without a client certificate", k.MTLS, fmt.Sprintf(`{protocol: SSL, ca_file: %q}`, ca),
			[]string{"client certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			redisAddr := testenv.Redis(t)
			topic := testenv.TopicName(t)
			cfg := writeFile(t, "features.yaml", secConfig(c.brokers, topic, "feathr-e2e-"+topic, c.security, fmt.Sprintf("{addr: %q}", redisAddr)))
			refused(t, refusedEnv, cfg, c.want, slices.Concat(secrets, []string{wrongSCRAM, wrongConn})...)
		})
	}

	t.Run("redis", func(t *testing.T) { testSecureRedis(t, k.Plain) })
}

// testSecureRedis materializes into, and reads back from, Redis with a
// password, with an ACL user, and over TLS with a custom CA and a client
// certificate; a wrong password and an untrusted server certificate must
// fail fast without showing the password. brokers is a plain Kafka
// listener.
func testSecureRedis(t *testing.T, brokers string) {
	const adminPassword = "admin-pass-5e1d0c"
	const userPassword = "acl-user-pass-9b7f2a"
	secrets := []string{adminPassword, userPassword}

	setup := func(t *testing.T, redisCfg string) (cfg string, trips []trip) {
		t.Helper()
		topic := testenv.TopicName(t)
		trips = makeTrips(12, 3, baseMicros)
		produceTrips(t, brokers, topic, trips)
		return writeFile(t, "features.yaml", secConfig(brokers, topic, "feathr-e2e-"+topic, "", redisCfg)), trips
	}

	t.Run("password", func(t *testing.T) {
		t.Parallel()
		addr := testenv.StartRedis(t, "--requirepass", adminPassword).Addr()
		cfg, trips := setup(t, fmt.Sprintf(`{addr: %q, password: "${REDIS_PASSWORD}"}`, addr))
		env := []string{"REDIS_PASSWORD=" + adminPassword}
		materializeAll(t, env, cfg, len(trips), secrets...)
		// get and multi-get with the password in FEATHR_REDIS_URL.
		checkRedisTrips(t, []string{"FEATHR_REDIS_URL=redis://:" + adminPassword + "@" + addr}, nil, trips, secrets...)
	})

	t.Run("ACL user", func(t *testing.T) {
		t.Parallel()
		addr := testenv.StartRedis(t, "--requirepass", adminPassword).Addr()
		aclSetUser(t, addr, adminPassword, "feathr", userPassword)
		cfg, trips := setup(t, fmt.Sprintf(`{addr: %q, username: feathr, password_file: %q}`, addr, writeSecret(t, userPassword)))
		materializeAll(t, nil, cfg, len(trips), secrets...)
		// get and multi-get with the file's online_store, then as the user
		// in FEATHR_REDIS_URL.
		checkRedisTrips(t, nil, []string{"-f", cfg}, trips, secrets...)
		checkRedisTrips(t, []string{"FEATHR_REDIS_URL=redis://feathr:" + userPassword + "@" + addr}, nil, trips, secrets...)
	})

	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		certs := testenv.NewCerts(t)
		addr := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: certs, Args: []string{"--requirepass", adminPassword}}).Addr()
		cfg, trips := setup(t, fmt.Sprintf(`{addr: %q, password: "${REDIS_PASSWORD}", tls: true, ca_file: %q, cert_file: %q, key_file: %q}`,
			addr, certs.CAFile, certs.ClientCert, certs.ClientKey))
		env := []string{"REDIS_PASSWORD=" + adminPassword}
		materializeAll(t, env, cfg, len(trips), secrets...)
		checkRedisTrips(t, env, []string{"-f", cfg}, trips, secrets...)
		checkRedisTrips(t, []string{
			"FEATHR_REDIS_URL=rediss://:" + adminPassword + "@" + addr,
			"FEATHR_REDIS_CA_FILE=" + certs.CAFile, "FEATHR_REDIS_CERT_FILE=" + certs.ClientCert, "FEATHR_REDIS_KEY_FILE=" + certs.ClientKey,
		}, nil, trips, secrets...)

		// A server certificate from a CA feathr was not given.
		bad := writeFile(t, "untrusted.yaml", strings.Replace(readFile(t, cfg), certs.CAFile, testenv.NewCerts(t).CAFile, 1))
		refused(t, env, bad, []string{"certificate signed by unknown authority"}, secrets...)
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		addr := testenv.StartRedis(t, "--requirepass", adminPassword).Addr()
		aclSetUser(t, addr, adminPassword, "feathr", userPassword)
		const wrong = "wrong-redis-pass-41c3"
		for _, redisCfg := range []string{
			fmt.Sprintf(`{addr: %q, password: "${REDIS_PASSWORD}"}`, addr),
			fmt.Sprintf(`{addr: %q, username: feathr, password: "${REDIS_PASSWORD}"}`, addr),
		} {
			cfg, _ := setup(t, redisCfg)
			refused(t, []string{"REDIS_PASSWORD=" + wrong}, cfg, []string{"WRONGPASS"}, slices.Concat(secrets, []string{wrong})...)
		}
		for _, url := range []string{"redis://:" + wrong + "@" + addr, "redis://feathr:" + wrong + "@" + addr} {
			start := time.Now()
			r := run(t, []string{"FEATHR_REDIS_URL=" + url}, "", feathrBin, "get", secTable, "1", "f_trips")
			if r.code != 1 || !strings.Contains(r.stderr, "WRONGPASS") || time.Since(start) > refuseBound {
				t.Errorf("get with a wrong password: want exit 1 with WRONGPASS within %v, got after %v:\n%s", refuseBound, time.Since(start), r)
			}
			checkNoSecrets(t, r, slices.Concat(secrets, []string{wrong})...)
		}
	})
}

// aclSetUser creates an ACL user with full access, as the default user.
func aclSetUser(t *testing.T, addr, adminPassword, user, password string) {
	t.Helper()
	c, err := redis.Dial("tcp", addr, redis.DialPassword(adminPassword))
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.Close()
	if _, err := c.Do("ACL", "SETUSER", user, "on", ">"+password, "~*", "&*", "+@all"); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
}

// readFile returns the contents of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSecretsNotPrinted checks that secrets given through the environment
// or a file never appear in what feathr prints: validate's text and JSON
// output for a valid file and for a broken one, and --help of every
// command with FEATHR_REDIS_URL holding a password.
func TestSecretsNotPrinted(t *testing.T) {
	testenv.Kafka(t) // runs with the rest of the suite (it needs the binary)
	const (
		kafkaSecret = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=kafka-secret-7d1e"
		fileSecret  = "redis-file-secret-c09a"
		urlSecret   = "redis-url-secret-3b8e"
	)
	secrets := []string{kafkaSecret, fileSecret, urlSecret}
	env := []string{"EVENTHUB_CONN=" + kafkaSecret, "FEATHR_REDIS_URL=redis://u:" + urlSecret + "@localhost:6379"}
	pwFile := writeSecret(t, fileSecret)
	security := `{protocol: SASL_SSL, username: "$ConnectionString", password: "${EVENTHUB_CONN}"}`
	redisCfg := fmt.Sprintf(`{addr: "localhost:6379", username: feathr, password_file: %q}`, pwFile)
	valid := writeFile(t, "valid.yaml", secConfig("ns.servicebus.windows.net:9093", "trips", "g", security, redisCfg))
	// Broken in several places, next to the secrets.
	broken := writeFile(t, "broken.yaml", strings.NewReplacer(
		`username: "$ConnectionString"`, `username: "$ConnectionString", mechanism: GSSAPI, pasword: "${EVENTHUB_CONN}"`,
		`username: feathr,`, `username: feathr, password: "${EVENTHUB_CONN}",`,
		"trips_today + 1", "trips_today + nope",
	).Replace(readFile(t, valid)))

	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"validate", "-f", valid}, 0},
		{[]string{"validate", "-f", valid, "-o", "json"}, 0},
		{[]string{"validate", "-f", broken}, 1},
		{[]string{"validate", "-f", broken, "-o", "json"}, 1},
		{[]string{"--help"}, 0},
		{[]string{"validate", "--help"}, 0},
		{[]string{"materialize", "--help"}, 0},
		{[]string{"get", "--help"}, 0},
		{[]string{"multi-get", "--help"}, 0},
		{[]string{"dev", "--help"}, 0},
	} {
		r := run(t, env, "", feathrBin, c.args...)
		if r.code != c.code {
			t.Errorf("feathr %s: exit %d, want %d\n%s", strings.Join(c.args, " "), r.code, c.code, r)
		}
		checkNoSecrets(t, r, secrets...)
		if c.code == 1 && !strings.Contains(r.stdout+r.stderr, "password") {
			t.Errorf("feathr %s: the problem next to the password is not reported:\n%s", strings.Join(c.args, " "), r)
		}
	}
}
