package window

import (
	"errors"
	"fmt"
	"time"
)

// MaxTiles is the most tiles a window may span (Window/Hop).
const MaxTiles = 1000

// Spec is one window aggregation: its function and its times. A config
// compiler fills Hop with DefaultHop(Window) when the file sets none, and
// Lateness with Hop when it sets no allowed_lateness.
type Spec struct {
	Func   Func
	Window time.Duration // the window's length, whole seconds
	Hop    time.Duration // a tile's width, whole seconds, at least 1s
	// Lateness is the allowed lateness: an event at or before
	// now − Window − Lateness is not aggregated. Whole seconds, may be 0.
	Lateness time.Duration
}

// String returns e.g. "COUNT window 10m hop 1m allowed_lateness 1m".
func (s Spec) String() string {
	return fmt.Sprintf("%v window %s hop %s allowed_lateness %s",
		s.Func, FormatDuration(s.Window), FormatDuration(s.Hop), FormatDuration(s.Lateness))
}

// Check returns nil when s is a valid aggregation, else one *Error per
// broken rule (joined with errors.Join), each with the Key it is about:
// a known Func; Window positive and whole seconds; Hop at least 1s, whole
// seconds, at most Window, dividing Window into at most MaxTiles tiles;
// Lateness at least 0, whole seconds and at most Window (an event older
// than that is in no window a reader sees, and keeping its tile would
// cost memory for nothing).
func (s Spec) Check() error {
	var errs []error
	add := func(key, hint, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	if !s.Func.valid() {
		add("agg_func", "want one of "+funcList(), "invalid aggregation function %v", s.Func)
	}
	w, h, l := s.Window, s.Hop, s.Lateness
	switch {
	case w <= 0:
		add("window", syntaxHint, "window %s must be positive", FormatDuration(w))
	case w%time.Second != 0:
		add("window", "", "window %s is not a whole number of seconds", w)
	}
	switch {
	case h < time.Second:
		add("hop", "", "hop %s is under 1s", FormatDuration(h))
	case h%time.Second != 0:
		add("hop", "", "hop %s is not a whole number of seconds", h)
	case w <= 0 || w%time.Second != 0:
		// The window's error says it.
	case h > w:
		add("hop", fmt.Sprintf("a hop is one tile of the window; the default for %s is %s", FormatDuration(w), FormatDuration(DefaultHop(w))),
			"hop %s is longer than the window %s", FormatDuration(h), FormatDuration(w))
	case w%h != 0:
		add("hop", divisorHint(w, h), "window %s is not a multiple of hop %s", FormatDuration(w), FormatDuration(h))
	case w/h > MaxTiles:
		add("hop", tilesHint(w), "window %s over hop %s is %d tiles, more than %d",
			FormatDuration(w), FormatDuration(h), w/h, MaxTiles)
	}
	switch {
	case l < 0:
		add("allowed_lateness", "", "allowed_lateness %s is negative", l)
	case l%time.Second != 0:
		add("allowed_lateness", "", "allowed_lateness %s is not a whole number of seconds", l)
	case w > 0 && l > w:
		hint := "an event older than the window is in no window a reader sees"
		if h >= time.Second {
			hint += fmt.Sprintf("; the default is one hop (%s)", FormatDuration(h))
		}
		add("allowed_lateness", hint, "allowed_lateness %s is longer than the window %s", FormatDuration(l), FormatDuration(w))
	}
	return errors.Join(errs...)
}

// divisorHint suggests the hops nearest to h that divide w into at most
// MaxTiles tiles, round to h's unit when some are.
func divisorHint(w, h time.Duration) string {
	var below, above time.Duration
	for _, d := range hopsOf(w, h) {
		if d < h {
			below = d
		} else if above == 0 {
			above = d
		}
	}
	switch {
	case below > 0 && above > 0:
		return fmt.Sprintf("use a hop that divides the window, e.g. %s or %s", FormatDuration(below), FormatDuration(above))
	case above > 0:
		return fmt.Sprintf("use a hop that divides the window, e.g. %s", FormatDuration(above))
	}
	return fmt.Sprintf("use a hop that divides the window, e.g. %s", FormatDuration(below))
}

// tilesHint suggests the finest hop, round when one is, that divides w
// into at most MaxTiles tiles.
func tilesHint(w time.Duration) string {
	ws := int64(w / time.Second)
	minHop := time.Duration((ws+MaxTiles-1)/MaxTiles) * time.Second
	u := unitOf(minHop)
	least := (minHop + u - 1) / u * u
	for _, d := range hopsOf(w, minHop) {
		if d >= minHop {
			return fmt.Sprintf("use a hop of at least %s that divides the window, e.g. %s", FormatDuration(least), FormatDuration(d))
		}
	}
	return ""
}

// hopsOf returns, ascending, the hops that divide w into at most MaxTiles
// tiles and are whole multiples of the unit of near (an hour, a minute or
// a second); whole seconds when no multiple of that unit is one.
func hopsOf(w, near time.Duration) []time.Duration {
	var out []time.Duration
	for u := unitOf(near); len(out) == 0 && u >= time.Second; u /= 60 {
		for _, d := range divisors(int64(w / time.Second)) {
			h := time.Duration(d) * time.Second
			if h%u == 0 && w/h <= MaxTiles {
				out = append(out, h)
			}
		}
	}
	return out
}

// unitOf returns an hour, a minute or a second: the largest at most d.
func unitOf(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return time.Hour
	case d >= time.Minute:
		return time.Minute
	}
	return time.Second
}

// ms returns the spec's window, hop and lateness in milliseconds.
func (s Spec) ms() (w, h, l int64) {
	return s.Window.Milliseconds(), s.Hop.Milliseconds(), s.Lateness.Milliseconds()
}

// TileOf returns the tile number of an event at time t (unix ms):
// floor(t / hop).
func (s Spec) TileOf(t int64) int64 {
	_, h, _ := s.ms()
	return floorDiv(t, h)
}

// Visible reports whether tile b is in the window read at time T (unix
// ms): (b+1)·hop > T − window and b·hop ≤ T.
func (s Spec) Visible(b, T int64) bool {
	w, h, _ := s.ms()
	return (b+1)*h > T-w && b*h <= T
}

// VisibleRange returns the first and the last tile number visible at T;
// Window/Hop + 1 tiles.
func (s Spec) VisibleRange(T int64) (first, last int64) {
	w, h, _ := s.ms()
	return floorDiv(T-w, h), floorDiv(T, h)
}

// Late reports whether an event at time t arriving when the writer's
// wall clock is now is late, t ≤ now − window − lateness: it is not
// aggregated.
func (s Spec) Late(t, now int64) bool {
	w, _, l := s.ms()
	return t <= now-w-l
}

// Expired reports whether tile b can be dropped at wall clock now: only a
// late event could fall in it, (b+1)·hop ≤ now − window − lateness, and
// it is visible at no read time after now − lateness.
func (s Spec) Expired(b, now int64) bool {
	w, h, l := s.ms()
	return (b+1)*h <= now-w-l
}

// floorDiv is a / b rounded toward negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
