package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/config"
)

// examplePath is the repository's example file, seen from this package.
const examplePath = "../features.example.yaml"

func TestValidateExample(t *testing.T) {
	// The counts come from the file itself, so that the example may grow.
	f, err := config.Load(examplePath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("load the example: %v", err)
	}
	features := 0
	for _, a := range f.Anchors {
		features += len(a.Features)
	}
	if len(f.Sources) == 0 || features == 0 || len(f.Materializations) == 0 {
		t.Fatalf("the example defines nothing: %d sources, %d features", len(f.Sources), features)
	}
	want := fmt.Sprintf("%s: valid: %d source%s, %d key%s, %d anchor%s, %d feature%s, %d materialization%s\n", examplePath,
		len(f.Sources), plural(len(f.Sources)), len(f.Keys), plural(len(f.Keys)), len(f.Anchors), plural(len(f.Anchors)),
		features, plural(features), len(f.Materializations), plural(len(f.Materializations)))

	code, out, errOut := runCmd(t, context.Background(), "", nil, "validate", "-f", examplePath)
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\nstderr: %s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}

	// --output json: the same counts, nothing on stderr.
	code, out, errOut = runCmd(t, context.Background(), "", nil, "validate", "-f", examplePath, "--output", "json")
	if code != ExitOK || errOut != "" {
		t.Fatalf("json: exit %d, stderr %q", code, errOut)
	}
	var got map[string]any
	decodeJSON(t, out, &got)
	wantJSON := map[string]any{
		"valid": true, "file": examplePath, "problems": []any{},
		"summary": map[string]any{
			"sources": float64(len(f.Sources)), "keys": float64(len(f.Keys)), "anchors": float64(len(f.Anchors)),
			"features": float64(features), "materializations": float64(len(f.Materializations)),
		},
	}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("json = %v\nwant %v", got, wantJSON)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "}\n") {
		t.Errorf("json output is not one line: %q", out)
	}
}

// badYAML has problems found by config and by the compiler, interleaved
// in the file, to check that they come out together, sorted.
const badYAML = `sources:
  trips:
    kafka:
      brokers: ["localhost:9092"]
      topics: [trips]
    schema: |
      {"type": "record", "name": "T", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "n", "type": "int"}]}
    timestamp: tss
keys:
  driver: {column: driver_id, type: INT64}
anchors:
  a:
    source: trips
    key: [driver]
    features:
      f_n: {type: INT32, transform: "n AND 1"}
      f_s: {type: INT32, transform: "nn + 1"}
online_store:
  redis: {addr: "localhost:6379", password: "${UNSET_VAR}"}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_n, f_s, f_missing]
`

// badProblems are the problems of badYAML, sorted.
var badProblems = []problem{
	{Line: 10, Column: 16, Message: `source trips: timestamp field "tss" is not in the schema`},
	{Line: 18, Column: 40, Message: `feature f_n: Syntax error: mismatched input 'AND' expecting <EOF> (hint: write && (or and(a, b)) for AND)`},
	{Line: 19, Column: 38, Message: `feature f_s: unknown field "nn" (hint: did you mean n?)`},
	{Line: 21, Column: 45, Message: `online_store.redis.password: environment variable UNSET_VAR is not set (write ${UNSET_VAR:-default} to give a default)`},
	{Line: 25, Column: 26, Message: `materialization "m": feature "f_missing" is not defined (features: f_n, f_s)`},
}

func TestValidateProblems(t *testing.T) {
	path := writeFile(t, "bad.yaml", badYAML)
	code, out, errOut := runCmd(t, context.Background(), "", nil, "validate", "-f", path)
	if code != ExitError {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	var want strings.Builder
	for _, p := range badProblems {
		fmt.Fprintf(&want, "%s:%d:%d: %s\n", path, p.Line, p.Column, p.Message)
	}
	fmt.Fprintf(&want, "%s: %d problems\n", path, len(badProblems))
	if errOut != want.String() {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want.String())
	}
}

func TestValidateProblemsJSON(t *testing.T) {
	path := writeFile(t, "bad.yaml", badYAML)
	code, out, errOut := runCmd(t, context.Background(), "", nil, "validate", "-f", path, "-o", "json")
	if code != ExitError {
		t.Errorf("exit %d, want 1", code)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
	var got struct {
		Valid    *bool           `json:"valid"`
		File     string          `json:"file"`
		Problems []problem       `json:"problems"`
		Summary  json.RawMessage `json:"summary"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, out)
	}
	want := make([]problem, len(badProblems))
	for i, p := range badProblems {
		p.File = path
		want[i] = p
	}
	if got.Valid == nil || *got.Valid || got.File != path || got.Summary != nil {
		t.Errorf("valid %v, file %q, summary %s; want false, %q, none", got.Valid, got.File, got.Summary, path)
	}
	if !reflect.DeepEqual(got.Problems, want) {
		t.Errorf("problems:\n got %+v\nwant %+v", got.Problems, want)
	}
	// Messages with <, > and & are written as they are, not \u003c.
	if !strings.Contains(out, "expecting <EOF>") || !strings.Contains(out, "&&") {
		t.Errorf("JSON escapes HTML characters: %s", out)
	}
}

func TestValidateMissingFile(t *testing.T) {
	path := t.TempDir() + "/nope.yaml"
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), "", nil, "validate", "-f", path, "-o", output)
			if code != ExitError {
				t.Errorf("exit %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if want := "feathr: load config: open " + path + ": no such file or directory\n"; errOut != want {
				t.Errorf("stderr = %q, want %q", errOut, want)
			}
		})
	}
}

func TestValidateUsage(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"validate", "--bogus"}, "unknown flag: --bogus\nRun 'feathr validate --help' for usage."},
		{[]string{"validate", "-f"}, "flag needs an argument: 'f' in -f"},
		{[]string{"validate", "-f", examplePath, "-o", "xml"}, `--output must be text or json, not "xml"`},
		{[]string{"validate", "-f", examplePath, "extra"}, "Usage: feathr validate -f FILE"},
		{[]string{"validate", "-f", examplePath, "--output"}, "flag needs an argument: --output"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), "", nil, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "feathr: ") || !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.msg)
			}
		})
	}
}

func TestValidateUnsetVariable(t *testing.T) {
	src := strings.Replace(seedConfig("localhost:9092", "trips", "localhost:6379", ""),
		`topics: ["trips"]`, `topics: ["${TOPIC_VAR}"]`, 1)
	path := writeFile(t, "f.yaml", src)
	code, _, errOut := runCmd(t, context.Background(), "", nil, "validate", "-f", path)
	want := path + ":5:16: source \"kafkaStreamingSource\": kafka.topics: environment variable TOPIC_VAR is not set (write ${TOPIC_VAR:-default} to give a default)\n" +
		path + ": 1 problem\n"
	if code != ExitError || errOut != want {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and:\n%s", code, errOut, want)
	}
	// Set, it is used; the default is used when it is unset.
	code, _, errOut = runCmd(t, context.Background(), "", map[string]string{"TOPIC_VAR": "trips"}, "validate", "-f", path)
	if code != ExitOK {
		t.Errorf("with TOPIC_VAR set: exit %d: %s", code, errOut)
	}
	path = writeFile(t, "g.yaml", strings.Replace(src, "${TOPIC_VAR}", "${TOPIC_VAR:-trips}", 1))
	if code, _, errOut = runCmd(t, context.Background(), "", nil, "validate", "-f", path); code != ExitOK {
		t.Errorf("with a default: exit %d: %s", code, errOut)
	}
}

// secretYAML uses the secrets of the environment in every password field;
// with bad set, it also has problems next to them.
func secretYAML(redisAddr string, bad bool) string {
	mech, ts := "PLAIN", "datetime"
	if bad {
		mech, ts = "SCRAM-SHA-1", "nope"
	}
	return fmt.Sprintf(`sources:
  kafkaStreamingSource:
    kafka:
      brokers: ["127.0.0.1:1"]
      topics: [trips]
      security: {protocol: SASL_SSL, mechanism: %s, username: "$ConnectionString", password: "${EVENTHUB_CONN}"}
    format: confluent
    registry: {url: "http://127.0.0.1:1", username: reg, password: "${REGISTRY_PASSWORD}"}
    schema: |
      %s
    timestamp: %s
keys:
  driver_id: {column: driver_id, type: INT64}
anchors:
  a:
    source: kafkaStreamingSource
    key: [driver_id]
    features:
      f_trips: {type: INT32, transform: "trips_today"}
online_store:
  redis: {addr: %q, password: "${REDIS_PASSWORD}"}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_trips]
`, mech, strings.ReplaceAll(driverTripsSchema, "\n", "\n      "), ts, redisAddr)
}

func TestValidateNeverPrintsPasswords(t *testing.T) {
	secrets := map[string]string{
		"EVENTHUB_CONN":     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=EHSECRETxyz=",
		"REGISTRY_PASSWORD": "REGSECRET-42",
		"REDIS_PASSWORD":    "REDISSECRET-43",
	}
	// A port nothing listens on: materialize and get fail at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	good := writeFile(t, "good.yaml", secretYAML(closedAddr, false))
	bad := writeFile(t, "bad.yaml", secretYAML(closedAddr, true))
	runs := []struct {
		args []string
		code int
	}{
		{[]string{"validate", "-f", good}, ExitOK},
		{[]string{"validate", "-f", good, "-o", "json"}, ExitOK},
		{[]string{"validate", "-f", bad}, ExitError},
		{[]string{"validate", "-f", bad, "-o", "json"}, ExitError},
		{[]string{"materialize", "-f", bad}, ExitError},
		{[]string{"materialize", "-f", good, "--timeout", "5s"}, ExitError},
		{[]string{"get", "-f", good, "t", "1", "f_trips"}, ExitError},
	}
	for _, r := range runs {
		t.Run(strings.Join(r.args[:1], " ")+strings.Join(r.args[3:], " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), "", secrets, r.args...)
			if code != r.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, r.code, out, errOut)
			}
			if out+errOut == "" {
				t.Errorf("no output at all")
			}
			for name, v := range secrets {
				if strings.Contains(out, v) || strings.Contains(errOut, v) {
					t.Errorf("the value of %s is printed:\nstdout: %s\nstderr: %s", name, out, errOut)
				}
			}
		})
	}
}
