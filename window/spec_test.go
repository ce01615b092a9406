package window

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"10m", 10 * time.Minute},
		{"10M", 10 * time.Minute},
		{"3H", 3 * time.Hour},
		{"1d", Day},
		{"2w", 14 * Day},
		{"1y", 365 * Day},
		{"007s", 7 * time.Second},
		{"86400s", Day},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, msg, hint string }{
		{"", "empty duration", syntaxHint},
		{"10", `"10" has no unit`, syntaxHint},
		{"m", `"m" does not start with a number`, syntaxHint},
		{"1.5h", `"1.5h" is not a whole number of units`, "write 90m"},
		{"0.5s", `"0.5s" is not a whole number of units`, "windows are whole seconds: " + syntaxHint},
		{"10min", `"10min" has an unknown unit "min"`, "the unit is one letter: write 10m"},
		{"2Hours", `"2Hours" has an unknown unit "Hours"`, "the unit is one letter: write 2h"},
		{"500ms", `"500ms" has an unknown unit "ms"`, "windows are whole seconds: " + syntaxHint},
		{"1mo", `"1mo" has an unknown unit "mo"`, "Feathr has no month unit (its m is minutes): use days, e.g. 30d"},
		{"5x", `"5x" has an unknown unit "x"`, syntaxHint},
		{"10 m", `"10 m" has a space`, `write "10m"`},
		{"+5m", `"+5m" has a sign`, `write "5m"`},
		{"-1d", `"-1d" is negative`, `write "1d"`},
		{"0d", `"0d" is zero: it must be positive`, ""},
		{"1-2m", `"1-2m" is not a whole number and a unit`, syntaxHint},
		{"99999999999999999999s", `"99999999999999999999s" is too long`, ""},
		{"300y", `"300y" is too long`, ""},
	} {
		_, err := ParseDuration(tc.in)
		checkError(t, "ParseDuration("+tc.in+")", err, "", tc.msg, tc.hint)
	}
	for _, in := range []string{"0s", "0m", "0d"} {
		if d, err := ParseLateness(in); err != nil || d != 0 {
			t.Errorf("ParseLateness(%q) = %v, %v", in, d, err)
		}
	}
	if d, err := ParseLateness("2m"); err != nil || d != 2*time.Minute {
		t.Errorf("ParseLateness(2m) = %v, %v", d, err)
	}
	if _, err := ParseLateness("-1s"); err == nil {
		t.Error("ParseLateness(-1s) succeeded")
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {30 * time.Second, "30s"}, {90 * time.Second, "90s"}, {90 * time.Minute, "90m"},
		{Day, "1d"}, {7 * Day, "7d"}, {36 * time.Hour, "36h"}, {1500 * time.Millisecond, "1.5s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if tc.d > 0 && tc.d%time.Second == 0 {
			if back, err := ParseDuration(FormatDuration(tc.d)); err != nil || back != tc.d {
				t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tc.d, back, err)
			}
		}
	}
}

func TestDefaultHop(t *testing.T) {
	for _, tc := range []struct{ window, want string }{
		{"10m", "1m"}, {"1h", "5m"}, {"1d", "2h"}, {"7d", "12h"}, {"30s", "2s"}, {"5s", "1s"},
		{"9s", "1s"}, {"10s", "1s"}, {"13s", "1s"}, {"70s", "5s"}, {"1y", "1d"}, {"3650d", "365d"},
		{"2h", "10m"}, {"90m", "5m"}, {"3d", "6h"}, {"7919s", "1s"},
	} {
		w, err := ParseDuration(tc.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatDuration(DefaultHop(w)); got != tc.want {
			t.Errorf("DefaultHop(%s) = %s, want %s", tc.window, got, tc.want)
		}
	}
	// For any window, the default hop divides it and is at most a tenth
	// of it (or 1s); the spec is valid unless it must exceed MaxTiles.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		w := time.Duration(1+r.Int64N(400*86400)) * time.Second
		h := DefaultHop(w)
		if w%h != 0 || (w >= 10*time.Second && h > w/10) {
			t.Fatalf("DefaultHop(%v) = %v", w, h)
		}
		err := Spec{Func: Sum, Window: w, Hop: h, Lateness: h}.Check()
		if (err == nil) != (w/h <= MaxTiles) {
			t.Fatalf("window %v hop %v: %v", w, h, err)
		}
	}
}

func TestSpecCheck(t *testing.T) {
	type e struct{ key, msg, hint string }
	d := func(s string) time.Duration {
		v, err := ParseLateness(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		s    Spec
		want []e
	}{
		{Spec{Count, d("10m"), d("1m"), d("1m")}, nil},
		{Spec{Avg, d("1d"), d("1h"), 0}, nil},
		{Spec{Sum, d("1000s"), d("1s"), d("1000s")}, nil},
		{Spec{Sum, d("1h"), d("7m"), d("7m")}, []e{{"hop", "window 1h is not a multiple of hop 7m", "use a hop that divides the window, e.g. 6m or 10m"}}},
		{Spec{Sum, d("1h"), d("2h"), d("1m")}, []e{{"hop", "hop 2h is longer than the window 1h", "a hop is one tile of the window; the default for 1h is 5m"}}},
		{Spec{Sum, d("7d"), d("1m"), d("1m")}, []e{{"hop", "window 7d over hop 1m is 10080 tiles, more than 1000", "use a hop of at least 11m that divides the window, e.g. 12m"}}},
		{Spec{Sum, d("1h"), 500 * time.Millisecond, 0}, []e{{"hop", "hop 500ms is under 1s", ""}}},
		{Spec{Sum, 1500 * time.Millisecond, time.Second, 0}, []e{{"window", "window 1.5s is not a whole number of seconds", ""}}},
		{Spec{Sum, 0, time.Second, 0}, []e{{"window", "window 0s must be positive", syntaxHint}}},
		{Spec{Sum, d("1h"), d("5m"), -time.Second}, []e{{"allowed_lateness", "allowed_lateness -1s is negative", ""}}},
		{Spec{Sum, d("1h"), d("5m"), d("2h")}, []e{{"allowed_lateness", "allowed_lateness 2h is longer than the window 1h", "an event older than the window is in no window a reader sees; the default is one hop (5m)"}}},
		{Spec{0, d("1h"), d("7m"), d("2h")}, []e{
			{"agg_func", "invalid aggregation function Func(0)", "want one of " + funcList()},
			{"hop", "window 1h is not a multiple of hop 7m", "use a hop that divides the window, e.g. 6m or 10m"},
			{"allowed_lateness", "allowed_lateness 2h is longer than the window 1h", "an event older than the window is in no window a reader sees; the default is one hop (7m)"},
		}},
	} {
		err := tc.s.Check()
		var got []e
		if err != nil {
			for _, x := range err.(interface{ Unwrap() []error }).Unwrap() {
				var we *Error
				if !errors.As(x, &we) {
					t.Fatalf("%v: %T %v", tc.s, x, x)
				}
				got = append(got, e{we.Key, we.Msg, we.Hint})
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: got %q, want %q", tc.s, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v:\n got %q\nwant %q", tc.s, got[i], tc.want[i])
			}
		}
	}
	if got := (Spec{Count, 10 * time.Minute, time.Minute, time.Minute}).String(); got != "COUNT window 10m hop 1m allowed_lateness 1m" {
		t.Errorf("String() = %q", got)
	}
}

func TestSpecTimes(t *testing.T) {
	s := Spec{Sum, 10 * time.Second, 2 * time.Second, 3 * time.Second}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		tm := r.Int64N(200000) - 100000 // around the epoch, negative times too
		T := tm + r.Int64N(30000) - 10000
		b := s.TileOf(tm)
		if b*2000 > tm || (b+1)*2000 <= tm {
			t.Fatalf("TileOf(%d) = %d", tm, b)
		}
		first, last := s.VisibleRange(T)
		if last-first+1 != 6 {
			t.Fatalf("VisibleRange(%d) = %d..%d", T, first, last)
		}
		if vis := b >= first && b <= last; vis != s.Visible(b, T) {
			t.Fatalf("tile %d at %d: Visible %t, range %d..%d", b, T, s.Visible(b, T), first, last)
		}
		// The window is between window and window + hop long: an event
		// inside (T − window, T] is visible, one before T − window − hop or
		// after the tile of T is not.
		if tm > T-10000 && tm <= T && !s.Visible(b, T) {
			t.Fatalf("event %d not visible at %d", tm, T)
		}
		if (tm <= T-12000 || tm >= (floorDiv(T, 2000)+1)*2000) && s.Visible(b, T) {
			t.Fatalf("event %d visible at %d", tm, T)
		}
		// An event that is not late lands in a tile that has not expired;
		// an expired tile is visible at no time after now − lateness.
		now := T
		if !s.Late(tm, now) && s.Expired(b, now) {
			t.Fatalf("event %d not late at %d but its tile expired", tm, now)
		}
		if s.Expired(b, now) && s.Visible(b, now-3000+r.Int64N(100000)) {
			t.Fatalf("expired tile %d visible after %d", b, now-3000)
		}
	}
}
