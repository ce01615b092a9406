package sink

import (
	"bytes"
	"runtime"
	"testing"
)

func TestArgInPlace(t *testing.T) {
	s, b, n := "key:1", []byte("value"), int64(1_700_000_000_000)
	args := []any{argString(&s), argBytes(&b), argInt64(&n)}
	runtime.GC() // the interfaces alone keep the variables' memory
	if got, ok := args[0].(string); !ok || got != s {
		t.Errorf("argString = %#v, want %q", args[0], s)
	}
	if got, ok := args[1].([]byte); !ok || !bytes.Equal(got, b) {
		t.Errorf("argBytes = %#v, want %q", args[1], b)
	}
	if got, ok := args[2].(int64); !ok || got != n {
		t.Errorf("argInt64 = %#v, want %d", args[2], n)
	}
	ws := make([]write, 1)
	ws[0].key = "k"
	if a := testing.AllocsPerRun(100, func() {
		args[0], args[1], args[2] = argString(&ws[0].key), argBytes(&b), argInt64(&ws[0].newest)
	}); a != 0 {
		t.Errorf("boxing in place allocates %v times", a)
	}
}
