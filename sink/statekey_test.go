package sink

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mna/redisc"
)

// TestStateKey: for many keys, including braces, NUL, the empty key, "{}"
// and "}{", S and the keys derived from it hash to K's slot, and S is
// never a key of a table.
func TestStateKey(t *testing.T) {
	keys := []string{"", "{}", "}{", "{", "}", "{{}}", "{a}", "a{b}c", "a{}b", "{}a", "a{b", "a}b{c}", "x}{y}",
		"\x00", "t:\x00", "t:{\x00}", "t:42", "driver:7#a", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap"}
	r := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte("ab{}:#\x00\xff0")
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	seen := map[string]string{}
	for _, k := range keys {
		for _, m := range []string{"m", "kafkaSampleDemo", ""} {
			s := stateKey(k, m)
			if got, want := redisc.Slot(s), redisc.Slot(k); got != want {
				t.Fatalf("stateKey(%q, %q) = %q: slot %d, want %d", k, m, s, got, want)
			}
			if d := s + ":d:f:123"; redisc.Slot(d) != redisc.Slot(k) {
				t.Fatalf("HyperLogLog key %q: slot %d, want %d", d, redisc.Slot(d), redisc.Slot(k))
			}
			if s == k || s[0] != '{' || !strings.Contains(s, stateInfix) {
				t.Fatalf("stateKey(%q, %q) = %q", k, m, s)
			}
			id := k + "\x01" + m
			if prev, ok := seen[s]; ok && prev != id {
				t.Fatalf("stateKey %q for both %q and %q", s, prev, id)
			}
			seen[s] = id
		}
	}
	// The readable form when K has a usable tag.
	for k, want := range map[string]string{
		"t:42":      "{t:42}\x00agg\x00m\x00t:42",
		"a{b}c":     "{b}\x00agg\x00m\x00a{b}c",
		"a{b":       "{a{b}\x00agg\x00m\x00a{b",
		"a}b":       "{" + slotTag(redisc.Slot("a}b")) + "}\x00agg\x00m\x00a}b",
		"":          "{" + slotTag(redisc.Slot("")) + "}\x00agg\x00m\x00",
		"{}":        "{" + slotTag(redisc.Slot("{}")) + "}\x00agg\x00m\x00{}",
		"}{":        "{" + slotTag(redisc.Slot("}{")) + "}\x00agg\x00m\x00}{",
		"foo{}{ba}": "{" + slotTag(redisc.Slot("foo{}{ba}")) + "}\x00agg\x00m\x00foo{}{ba}",
	} {
		if got := stateKey(k, "m"); got != want {
			t.Errorf("stateKey(%q, m) = %q, want %q", k, got, want)
		}
	}
}

func TestSlotTags(t *testing.T) {
	for slot := range redisc.HashSlots {
		tag := slotTag(slot)
		if strings.ContainsAny(tag, "{}") || redisc.Slot(tag) != slot || redisc.Slot("x{"+tag+"}y") != slot {
			t.Fatalf("slotTag(%d) = %q (slot %d)", slot, tag, redisc.Slot(tag))
		}
		if k := clusterRefreshIndexKey("m", slot); redisc.Slot(k) != slot || !strings.HasPrefix(k, "__feathr_refresh:m:") {
			t.Fatalf("clusterRefreshIndexKey(m, %d) = %q (slot %d)", slot, k, redisc.Slot(k))
		}
	}
	// Deterministic: the smallest decimal of each slot (computed again
	// with an independent CRC16-XMODEM).
	for slot, want := range map[int]string{0: "3560", 1: "22179", 12182: "43681", 13907: "0", 16383: "39296"} {
		if got := slotTag(slot); got != want {
			t.Errorf("slotTag(%d) = %q, want %q", slot, got, want)
		}
	}
	if got := refreshIndexKey("m"); got != "__feathr_refresh:m" {
		t.Errorf("refreshIndexKey(m) = %q", got)
	}
}
