package window

import (
	"math"
	"testing"
	"time"
)

func TestHash(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	same := [][2]any{
		{"abc", "abc"},
		{[]byte("abc"), []byte("abc")},
		{math.NaN(), -math.NaN()},
		{0.0, math.Copysign(0, -1)},
		{at, at.In(time.FixedZone("x", 3600))},
	}
	for _, p := range same {
		a, _ := Hash(p[0])
		b, _ := Hash(p[1])
		if a != b {
			t.Errorf("Hash(%v) %x != Hash(%v) %x", p[0], a, p[1], b)
		}
	}
	distinct := []any{"1", []byte("1"), int64(1), 1.0, true, false, "", int64(0), at}
	seen := map[uint64]any{}
	for _, v := range distinct {
		h, err := Hash(v)
		if err != nil {
			t.Fatal(err)
		}
		if w, dup := seen[h]; dup {
			t.Errorf("Hash(%#v) = Hash(%#v)", v, w)
		}
		seen[h] = v
	}
	// FNV-1a of "sabc".
	if h, _ := Hash("abc"); h != 0x9932c18bfa82c46 {
		t.Errorf("Hash(abc) = %#x", h)
	}
	if _, err := Hash([]any{1}); err == nil {
		t.Error("a list hashed")
	}
}
