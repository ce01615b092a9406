package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// TestGetCluster reads keys spread over the slots of a real 3-master Redis
// Cluster with get and multi-get, the cluster given by a redis+cluster://
// URL or by the file's online_store.redis.addrs.
func TestGetCluster(t *testing.T) {
	t.Parallel()
	rc := testenv.StartRedisCluster(t, 3)
	st, err := sink.Open(sink.Options{Addr: rc.Addrs()[0], Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.NewWriter(sink.WriterOptions{Logger: slog.New(slog.DiscardHandler)})
	tbl := &sink.Table{Name: "tbl", Ordering: config.OrderArrival}
	const n = 300
	for i := range n {
		v, _ := sink.AppendValue(nil, int64(i))
		u := sink.Update{Table: tbl, Key: sink.Key(tbl.Name, strconv.Itoa(i)), Fields: []sink.Field{{Name: "a", Value: v}}}
		if err := w.Submit(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Close()

	var keys []string
	want := make(map[string]map[string]any)
	for i := range n + 5 {
		k := strconv.Itoa(i)
		keys = append(keys, k)
		want[k] = map[string]any{"a": nil, "b": nil}
		if i < n {
			want[k]["a"] = float64(i)
		}
	}
	url := "redis+cluster://" + strings.Join(rc.Addrs()[1:], ",")
	cfg := writeFile(t, "store.yaml", fmt.Sprintf("online_store:\n  redis:\n    addrs: [%q]\n", rc.Addrs()[2]))

	code, out, errOut := runCmd(t, context.Background(), "", nil, "get", "--redis", url, "tbl", "299", "a,b")
	if code != 0 || out != `{"a":299,"b":null}`+"\n" {
		t.Errorf("get: exit %d, %q, %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"multi-get", "--redis", url, "tbl", "-", "a,b"},
		{"multi-get", "-f", cfg, "tbl", "-", "a,b"},
	} {
		code, out, errOut := runCmd(t, context.Background(), strings.Join(keys, "\n"), nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var got map[string]map[string]any
		decodeJSON(t, out, &got)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%v:\n got %s\nwant %s", args, gb, wb)
		}
	}

	code, _, errOut = runCmd(t, context.Background(), "", nil, "get", "--redis", "redis+cluster://"+rc.Addrs()[0]+"/2", "tbl", "1", "a")
	if code != ExitUsage || !strings.Contains(errOut, "only database 0") {
		t.Errorf("cluster with a database: exit %d, %s", code, errOut)
	}
	// A plain URL at a cluster node says how to turn cluster mode on.
	code, _, errOut = runCmd(t, context.Background(), strings.Join(keys, "\n"), nil, "multi-get", "--redis", "redis://"+rc.Addrs()[0], "tbl", "-", "a")
	if code != ExitError || !strings.Contains(errOut, "redis+cluster://") {
		t.Errorf("plain URL at a cluster: exit %d, %s", code, errOut)
	}
}
