package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

func TestGet(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	c := redisConn(t, redisAddr)
	for _, kv := range []struct {
		key, field string
		v          any
	}{
		{"tbl:1", "a", int32(4)},
		{"tbl:1", "b", "x y"},
		{"tbl:2", "a", 0.5},
	} {
		b, err := sink.AppendValue(nil, kv.v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do("HSET", kv.key, kv.field, b); err != nil {
			t.Fatal(err)
		}
	}
	url := "redis://" + redisAddr
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
		err   string // a substring of stderr
	}{
		{name: "found", args: []string{"get", "tbl", "1", "a", "b"}, out: `{"a":4,"b":"x y"}` + "\n"},
		{name: "comma list, order kept", args: []string{"get", "tbl", "1", "b,a"}, out: `{"b":"x y","a":4}` + "\n"},
		{name: "missing feature", args: []string{"get", "tbl", "2", "a,b"}, out: `{"a":0.5,"b":null}` + "\n"},
		{name: "missing key", args: []string{"get", "tbl", "3", "a", "b"}, out: `{"a":null,"b":null}` + "\n"},
		{name: "missing table", args: []string{"get", "nope", "1", "a"}, out: `{"a":null}` + "\n"},
		{name: "multi-get", args: []string{"multi-get", "tbl", "3,2,1", "a,b"},
			out: `{"3":{"a":null,"b":null},"2":{"a":0.5,"b":null},"1":{"a":4,"b":"x y"}}` + "\n"},
		{name: "multi-get stdin", stdin: "2\n\n1\r\n", args: []string{"multi-get", "tbl", "-", "a"},
			out: `{"2":{"a":0.5},"1":{"a":4}}` + "\n"},
		{name: "table", args: []string{"get", "-o", "table", "tbl", "1", "a,b,c"},
			out: "KEY  a  b      c\n1    4  \"x y\"  null\n"},
		{name: "multi-get table", args: []string{"multi-get", "-o", "table", "tbl", "1,22", "a"},
			out: "KEY  a\n1    4\n22   null\n"},
		{name: "two args", args: []string{"get", "tbl", "1"}, code: ExitUsage, err: "requires at least 3 arg(s), only received 2"},
		{name: "no features", args: []string{"get", "tbl", "1", ",,"}, code: ExitUsage, err: "no features given"},
		{name: "bad output", args: []string{"get", "-o", "xml", "tbl", "1", "a"}, code: ExitUsage, err: `--output must be json or table, not "xml"`},
		{name: "multi-get one arg", args: []string{"multi-get", "tbl"}, code: ExitUsage, err: "Usage: feathr multi-get TABLE KEYS FEATURE..."},
		{name: "bad flag", args: []string{"get", "--nope", "tbl", "1", "a"}, code: ExitUsage, err: "unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{tt.args[0], "--redis", url}, tt.args[1:]...)
			code, out, errOut := runCmd(t, context.Background(), tt.stdin, nil, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, errOut)
			}
			if out != tt.out {
				t.Errorf("stdout:\n%q\nwant:\n%q", out, tt.out)
			}
			if tt.err != "" && !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.err)
			}
		})
	}
}
