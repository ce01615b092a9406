package cmd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/sink"
)

// TestGetFakeReader drives get and multi-get over a fake reader: JSON and
// -o table for present, missing and null values and for vectors, in the
// order asked, and the reads the commands made.
func TestGetFakeReader(t *testing.T) {
	t.Parallel()
	values := map[string]map[string]map[string]any{"drivers": {
		"1":      {"n": int32(4), "s": "x y", "busy": true, "vec": []float64{1.5, -2}, "null": nil},
		"2":      {"n": int64(1) << 40, "vec": []int32{}, "emb": sink.Sparse[float32]{Indices: []int32{3}, Values: []float32{0.25}}},
		"a#b":    {"s": `quote" <&>`, "tags": []string{"a", "b"}},
		"\tодин": {"n": 0.1},
	}}
	tests := []struct {
		name  string
		stdin string
		args  []string
		out   string
		read  fakeGet
	}{
		{name: "get", args: []string{"get", "drivers", "1", "n,s", "busy", "vec", "null", "none"},
			out:  `{"n":4,"s":"x y","busy":true,"vec":[1.5,-2],"null":null,"none":null}` + "\n",
			read: fakeGet{"drivers", []string{"1"}, []string{"n", "s", "busy", "vec", "null", "none"}}},
		{name: "get missing key", args: []string{"get", "drivers", "3", "n", "vec"},
			out:  `{"n":null,"vec":null}` + "\n",
			read: fakeGet{"drivers", []string{"3"}, []string{"n", "vec"}}},
		{name: "get composite key, escaped string", args: []string{"get", "drivers", "a#b", "s,tags"},
			out:  `{"s":"quote\" \u003c\u0026\u003e","tags":["a","b"]}` + "\n",
			read: fakeGet{"drivers", []string{"a#b"}, []string{"s", "tags"}}},
		{name: "multi-get", args: []string{"multi-get", "drivers", "2,3,1", "n,vec,emb"},
			out:  `{"2":{"n":1099511627776,"vec":[],"emb":{"Indices":[3],"Values":[0.25]}},"3":{"n":null,"vec":null,"emb":null},"1":{"n":4,"vec":[1.5,-2],"emb":null}}` + "\n",
			read: fakeGet{"drivers", []string{"2", "3", "1"}, []string{"n", "vec", "emb"}}},
		{name: "multi-get stdin", stdin: "\tодин\n\n3\r\n", args: []string{"multi-get", "drivers", "-", "n"},
			out:  `{"\tодин":{"n":0.1},"3":{"n":null}}` + "\n",
			read: fakeGet{"drivers", []string{"\tодин", "3"}, []string{"n"}}},
		{name: "get table", args: []string{"get", "-o", "table", "drivers", "1", "n,s,vec,null"},
			out:  "KEY  n  s      vec       null\n1    4  \"x y\"  [1.5,-2]  null\n",
			read: fakeGet{"drivers", []string{"1"}, []string{"n", "s", "vec", "null"}}},
		{name: "multi-get table", args: []string{"multi-get", "-o", "table", "drivers", "1,3,2", "n,vec"},
			out:  "KEY  n              vec\n1    4              [1.5,-2]\n3    null           null\n2    1099511627776  []\n",
			read: fakeGet{"drivers", []string{"1", "3", "2"}, []string{"n", "vec"}}},
		{name: "missing table", args: []string{"get", "nope", "1", "n"},
			out:  `{"n":null}` + "\n",
			read: fakeGet{"nope", []string{"1"}, []string{"n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{values: values}
			r := newFakeRun(st, nil)
			r.f.IO.In = strings.NewReader(tt.stdin)
			if code := r.run(context.Background(), tt.args...); code != ExitOK {
				t.Fatalf("exit %d\nstderr: %s", code, r.err.String())
			}
			if got := r.out.String(); got != tt.out {
				t.Errorf("stdout:\n%q\nwant:\n%q", got, tt.out)
			}
			if !reflect.DeepEqual(st.gets, []fakeGet{tt.read}) {
				t.Errorf("reads %q, want %q", st.gets, tt.read)
			}
			if st.pings != 0 || !st.closed || len(st.opened) != 1 || st.opened[0].Addr != "localhost:6379" {
				t.Errorf("store opened %+v, pinged %d times, closed %v; want once at localhost:6379, never pinged, closed", st.opened, st.pings, st.closed)
			}
		})
	}
}

// TestGetFakeStoreOptions checks which store get reads (--redis, else the
// file's online_store, else FEATHR_REDIS_URL, else localhost:6379) and
// that a failed read names its address.
func TestGetFakeStoreOptions(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "store.yaml", "online_store:\n  redis: {addr: \"file.invalid:7000\", db: 3}\n")
	env := map[string]string{"FEATHR_REDIS_URL": "redis://env.invalid:7001/2"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want sink.Options
	}{
		{"default", nil, nil, sink.Options{Addr: "localhost:6379"}},
		{"env", nil, env, sink.Options{Addr: "env.invalid:7001", DB: 2}},
		{"file over env", []string{"-f", cfg}, env, sink.Options{Addr: "file.invalid:7000", DB: 3}},
		{"flag over file", []string{"-f", cfg, "--redis", "rediss://flag.invalid:7002/1"}, env, sink.Options{Addr: "flag.invalid:7002", DB: 1, TLS: true}},
		{"cluster flag", []string{"--redis", "redis+cluster://n1.invalid:7003,n2.invalid"}, nil, sink.Options{Addr: "n1.invalid:7003,n2.invalid:6379", Cluster: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{getErr: errors.New("i/o timeout")}
			r := newFakeRun(st, tt.env)
			code := r.run(context.Background(), append(append([]string{"get"}, tt.args...), "t", "1", "f")...)
			if len(st.opened) != 1 || !reflect.DeepEqual(st.opened[0], tt.want) {
				t.Fatalf("store opened with %+v, want %+v", st.opened, tt.want)
			}
			want := fmt.Sprintf("feathr: redis at %s: i/o timeout\n", tt.want.Addr)
			if code != ExitError || r.err.String() != want || r.out.String() != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing and %q", code, r.out.String(), r.err.String(), want)
			}
			if !st.closed {
				t.Error("store not closed")
			}
		})
	}
}
