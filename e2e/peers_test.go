package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The peer clients feathr did not write (scripts/peers.sh install):
// producing with testdata/produce.py and kcat, and reading features back
// with testdata/read_features.py as Feathr's Python client does.

// requirePeers fails the test, with the command that installs them, when
// a peer client is missing.
func requirePeers(t *testing.T) {
	t.Helper()
	peerOnce.Do(func() {
		var missing []string
		if _, err := exec.LookPath("kcat"); err != nil {
			missing = append(missing, "kcat")
		}
		if _, err := exec.LookPath("protoc"); err != nil {
			missing = append(missing, "protoc")
		}
		check := "import confluent_kafka, redis, google.protobuf\ntry:\n import fastavro\nexcept ImportError:\n import avro.io"
		if out, err := exec.Command(python, "-c", check).CombinedOutput(); err != nil {
			missing = append(missing, fmt.Sprintf("%s modules (%v: %s)", python, err, bytes.TrimSpace(out)))
		}
		if len(missing) > 0 {
			peerErr = fmt.Sprintf("peer clients missing: %s; run scripts/peers.sh install", strings.Join(missing, ", "))
		}
	})
	if peerErr != "" {
		t.Fatal(peerErr)
	}
}

var (
	peerOnce sync.Once
	peerErr  string
)

// pyProduce produces events to topic with testdata/produce.py
// (confluent_kafka and an Avro schemaless writer); args are extra flags
// such as --key or --schema-id.
func pyProduce[E any](t *testing.T, brokers, topic, schema string, events []E, args ...string) {
	t.Helper()
	a := append([]string{"testdata/produce.py",
		"--schema", writeFile(t, "schema.avsc", schema),
		"--events", writeEvents(t, events),
		"--brokers", brokers, "--topic", topic,
	}, args...)
	r := run(t, nil, "", python, a...)
	if r.code != 0 {
		t.Fatalf("produce.py: %s", r)
	}
	var out struct {
		Produced int `json:"produced"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Produced != len(events) {
		t.Fatalf("produce.py: produced %d of %d (%v)\n%s", out.Produced, len(events), err, r)
	}
}

// avroFiles encodes each event as plain Avro binary into a file of its
// own with testdata/produce.py, and returns the files in event order.
func avroFiles[E any](t *testing.T, schema string, events []E) []string {
	t.Helper()
	dir := t.TempDir()
	r := run(t, nil, "", python, "testdata/produce.py",
		"--schema", writeFile(t, "schema.avsc", schema),
		"--events", writeEvents(t, events),
		"--out-dir", dir)
	if r.code != 0 {
		t.Fatalf("produce.py --out-dir: %s", r)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.avro"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) != len(events) {
		t.Fatalf("produce.py wrote %d files for %d events", len(files), len(events))
	}
	return files
}

// kcatProduce sends each file as one message to topic with kcat, file i
// to partition i%partitions, one kcat run per partition.
func kcatProduce(t *testing.T, brokers, topic string, partitions int, files []string) {
	t.Helper()
	for p := range partitions {
		args := []string{"-P", "-b", brokers, "-t", topic, "-p", strconv.Itoa(p), "-X", "acks=all"}
		for i := p; i < len(files); i += partitions {
			args = append(args, files[i])
		}
		if r := run(t, nil, "", "kcat", args...); r.code != 0 {
			t.Fatalf("kcat: %s", r)
		}
	}
}

// compileProto compiles sink/featurepb/feature_value.proto for Python with
// Debian's protoc and returns the directory of feature_value_pb2.py.
func compileProto(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r := run(t, nil, "", "protoc", "--python_out="+dir, "-I", "../sink/featurepb", "feature_value.proto")
	if r.code != 0 {
		t.Fatalf("protoc: %s", r)
	}
	return dir
}

// pyReadFeatures reads features with testdata/read_features.py, as
// Feathr's Python client does; keys are strings or, for a composite key,
// lists of parts. It returns {"joined key": {"feature": value}}.
func pyReadFeatures(t *testing.T, pbDir, redisAddr, table string, keys []any, features []string) map[string]map[string]any {
	t.Helper()
	k, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "", python, "testdata/read_features.py",
		"--redis", redisAddr, "--pb-dir", pbDir, "--table", table,
		"--features", strings.Join(features, ","), "--keys", string(k))
	if r.code != 0 {
		t.Fatalf("read_features.py: %s", r)
	}
	var out map[string]map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}
