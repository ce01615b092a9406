package e2e

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestVersionAndCompletion runs the built binary's version command and
// loads its bash completion into a real bash.
func TestVersionAndCompletion(t *testing.T) {
	t.Parallel()
	if feathrBin == "" {
		t.Skip("no feathr binary: set FEATHR_BIN or FEATHR_KAFKA_BROKERS")
	}
	r := mustFeathr(t, "", "version", "-o", "json")
	var v struct{ Version, Go, Platform string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json: %v %+v\n%s", err, v, r)
	}
	if r := mustFeathr(t, "", "version"); !strings.HasPrefix(r.stdout, "feathr "+v.Version+" ") {
		t.Errorf("version: %q, want feathr %s ...", r.stdout, v.Version)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	// The script loads and registers a completion; the binary answers the
	// script's query (the rest of the script needs the bash-completion
	// package, which the README's install line names).
	script := `source <("$FEATHR" completion bash) || exit 1
complete -p feathr || exit 1
"$FEATHR" __complete mat`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Env = append(cmd.Environ(), "FEATHR="+feathrBin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-F __start_feathr feathr") || !strings.Contains(string(out), "\nmaterialize\t") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
}

// TestDryRun runs materialize --dry-run against the real broker: it
// prints the updates, writes nothing to Redis and commits nothing.
func TestDryRun(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	testenv.CreateTopic(t, brokers, topic, 3)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", tableEventsConfig(brokers, topic, group, redisAddr, "d"))
	cl := kgoProducer(t, brokers)
	var recs []*kgo.Record
	for id := int64(1); id <= 30; id++ {
		recs = append(recs, event(topic, id, id))
	}
	produceSync(t, cl, recs...)

	r := mustFeathr(t, "", "materialize", "-f", cfg, "--dry-run", "--start", "earliest", "--dry-run-rows", "7")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 8 {
		t.Fatalf("want 7 rows and a summary:\n%s", r)
	}
	for _, l := range lines[:7] {
		var row struct {
			Materialization, Key, Topic string
			Partition                   int32
			Offset                      int64
			Features                    map[string]int64
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("row %s: %v", l, err)
		}
		id, ok := strings.CutPrefix(row.Key, "d:")
		if !ok || row.Materialization != "events" || row.Topic != topic || row.Features["val"] == 0 ||
			id != jsonNumber(row.Features["val"]) || row.Features["big"] != row.Features["val"]*100000000000 {
			t.Errorf("row %s", l)
		}
	}
	var sum struct {
		DryRun  bool   `json:"dry_run"`
		Stopped string `json:"stopped"`
		Written int64  `json:"updates_written"`
	}
	decodeJSON(t, lines[7], &sum)
	if !sum.DryRun || sum.Stopped != "rows" || sum.Written != 7 {
		t.Errorf("summary %s", lines[7])
	}
	if n := redisKeys(t, redisAddr); n != 0 {
		t.Errorf("dry run: Redis holds %d keys, want none", n)
	}
	for p, o := range committedOffsets(t, brokers, group, topic, 3) {
		if o != -1 {
			t.Errorf("dry run: group %s committed %s/%d@%d", group, topic, p, o)
		}
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
