package sink

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestIsFatal(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{redis.Error("WRONGTYPE Operation against a key holding the wrong kind of value"), true},
		{fmt.Errorf("connect: %w", redis.Error("WRONGPASS invalid username-password pair")), true},
		{redis.Error("NOAUTH Authentication required."), true},
		{redis.Error("NOPERM this user has no permissions"), true},
		{redis.Error("ERR DB index is out of range"), true},
		{redis.Error("ERR Error running script (call to f_x): @user_script:2: WRONGTYPE Operation"), true},
		{redis.Error("MOVED 3999 127.0.0.1:6381"), true},
		{redis.Error("LOADING Redis is loading the dataset in memory"), false},
		{redis.Error("BUSY Redis is busy running a script"), false},
		{redis.Error("OOM command not allowed when used memory > 'maxmemory'"), false},
		{redis.Error("READONLY You can't write against a read only replica."), false},
		{redis.Error("ERR max number of clients reached"), false},
		{redis.Error("NOSCRIPT No matching script"), false},
		{redis.Error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), false},
		{redis.Error("ERR user_script:1: too many results to unpack script: 7f94, on @user_script:1."), true},
		{redis.Error("ERR user_script:140: Expected value but found invalid token at character 1"), true},
		{redis.Error("ERR Error compiling script (new function): user_script:1: unexpected symbol"), true},
		{redis.Error("ERR Script attempted to access a non local key in a cluster node script: 4a23c35e, on @user_script:361."), false},
		{fmt.Errorf("key %q: %w", "k:1", redis.Error("OOM command not allowed when used memory > 'maxmemory'.")), false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
	} {
		if got := isFatal(c.err) || isScriptError(c.err); got != c.want {
			t.Errorf("isFatal or isScriptError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
