package window

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours, the d of Feathr's window syntax.
const Day = 24 * time.Hour

// units are the unit letters of Feathr's window syntax, lower case.
var units = map[byte]time.Duration{
	's': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': Day, 'w': 7 * Day, 'y': 365 * Day,
}

// unitWords maps unit spellings people write to the letter Feathr wants.
var unitWords = map[string]string{
	"sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"min": "m", "mins": "m", "minute": "m", "minutes": "m",
	"hr": "h", "hrs": "h", "hour": "h", "hours": "h",
	"day": "d", "days": "d", "week": "w", "weeks": "w", "year": "y", "years": "y",
}

const syntaxHint = "write a whole number and one unit: s, m (minutes), h, d, w (7 days) or y (365 days), e.g. 10m or 1d"

// ParseDuration parses a window or a hop in Feathr's window syntax: a
// whole number then one unit letter, in any case: s (seconds), m
// (minutes, never months), h (hours), d (days), w (7 days) or y (365
// days), e.g. "10m", "1d", "3H". It rejects what Feathr rejects (a plain
// number, a decimal, another unit) and, unlike Feathr, a space, a sign,
// zero and negative values. Errors are *Error with a hint.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s, false) }

// ParseLateness parses an allowed_lateness: as ParseDuration, and zero
// ("0s", "0m", …) is allowed.
func ParseLateness(s string) (time.Duration, error) { return parseDuration(s, true) }

func parseDuration(s string, zero bool) (time.Duration, error) {
	fail := func(hint, format string, args ...any) (time.Duration, error) {
		return 0, &Error{Msg: fmt.Sprintf(format, args...), Hint: hint}
	}
	if s == "" {
		return fail(syntaxHint, "empty duration")
	}
	if strings.ContainsAny(s, " \t\n\r") {
		return fail(fmt.Sprintf("write %q", strings.Join(strings.Fields(s), "")), "%q has a space", s)
	}
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == '+' || r == '-') })
	if i < 0 {
		return fail(syntaxHint, "%q has no unit", s)
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	if num == "" {
		return fail(syntaxHint, "%q does not start with a number", s)
	}
	u, ok := time.Duration(0), false
	if len(unit) == 1 {
		u, ok = units[unit[0]]
	}
	if !ok {
		hint := syntaxHint
		switch {
		case unitWords[unit] != "":
			hint = fmt.Sprintf("the unit is one letter: write %s%s", num, unitWords[unit])
		case unit == "ms":
			hint = "windows are whole seconds: " + syntaxHint
		case strings.HasPrefix(unit, "mo"):
			hint = "Feathr has no month unit (its m is minutes): use days, e.g. 30d"
		}
		return fail(hint, "%q has an unknown unit %q", s, s[i:])
	}
	switch num[0] {
	case '+':
		return fail(fmt.Sprintf("write %q", s[1:]), "%q has a sign", s)
	case '-':
		if _, err := strconv.ParseFloat(num, 64); err == nil {
			return fail(fmt.Sprintf("write %q", s[1:]), "%q is negative", s)
		}
	}
	if strings.Contains(num, ".") {
		if f, err := strconv.ParseFloat(num, 64); err == nil && f > 0 {
			secs := f * u.Seconds()
			if secs == math.Trunc(secs) && secs < 1e12 {
				return fail(fmt.Sprintf("write %s", FormatDuration(time.Duration(secs)*time.Second)),
					"%q is not a whole number of units", s)
			}
			return fail("windows are whole seconds: "+syntaxHint, "%q is not a whole number of units", s)
		}
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return fail("", "%q is too long", s)
		}
		return fail(syntaxHint, "%q is not a whole number and a unit", s)
	}
	if n > uint64(math.MaxInt64/int64(u)) {
		return fail("", "%q is too long", s)
	}
	if n == 0 && !zero {
		return fail("", "%q is zero: it must be positive", s)
	}
	return time.Duration(n) * u, nil
}

// FormatDuration formats d in Feathr's window syntax with the largest of
// the units d, h, m and s that divides it, e.g. "7d", "90m", "30s"; zero
// is "0s". A duration that is not a whole number of seconds is formatted
// as time.Duration.String does.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

// niceHops are the hops DefaultHop prefers, ascending.
var niceHops = [...]time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 12 * time.Hour, Day,
}

// DefaultHop returns the hop of a window that sets none: the largest of
// 1s 2s 5s 10s 15s 30s 1m 2m 5m 10m 15m 30m 1h 2h 3h 4h 6h 12h 1d that is
// at most window/10, divides the window and leaves at most MaxTiles
// tiles; if none does, the largest whole number of seconds at most
// window/10 that divides it; for a window under 10s, 1s. So 10m → 1m,
// 1h → 5m, 1d → 2h, 7d → 12h, 30s → 2s, 5s → 1s, 3650d → 365d.
func DefaultHop(window time.Duration) time.Duration {
	if window < 10*time.Second {
		return time.Second
	}
	limit := window / 10
	for i := len(niceHops) - 1; i >= 0; i-- {
		h := niceHops[i]
		if h <= limit && window%h == 0 && window/h <= MaxTiles {
			return h
		}
	}
	best := int64(1)
	for _, d := range divisors(int64(window / time.Second)) {
		if d <= int64(limit/time.Second) {
			best = d
		}
	}
	return time.Duration(best) * time.Second
}

// divisors returns the divisors of n > 0, ascending.
func divisors(n int64) []int64 {
	var lo, hi []int64
	for d := int64(1); d*d <= n; d++ {
		if n%d == 0 {
			lo = append(lo, d)
			if d*d != n {
				hi = append(hi, n/d)
			}
		}
	}
	for i := len(hi) - 1; i >= 0; i-- {
		lo = append(lo, hi[i])
	}
	return lo
}
