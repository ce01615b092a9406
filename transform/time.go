package transform

import (
	"math"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// defaultTimeFormat is Spark's default datetime pattern.
const defaultTimeFormat = "yyyy-MM-dd HH:mm:ss"

// timePart returns the library function name(t) = f(t), an integer part
// of a timestamp such as its year or its Unix seconds.
func timePart[T int | int64](name string, f func(time.Time) T) *fn {
	return &fn{name: name, sigs: []sig{s(tInt, tTime), s(tInt, tString)}, unary: func(v ref.Val) ref.Val {
		t, bad := toTime(name, v)
		if bad != nil {
			return bad
		}
		return types.Int(f(t))
	}}
}

// timeFuncs are Spark's datetime functions, all in UTC. A string where a
// timestamp is expected is parsed as `yyyy-MM-dd HH:mm:ss[.fraction]`,
// RFC 3339 (with `T` and a zone) or `yyyy-MM-dd`; one that does not parse
// gives null, as in Spark.
func timeFuncs() []*fn {
	now := func(...ref.Val) ref.Val { return types.Timestamp{Time: time.Now().UTC()} }
	fromUnix := func(name string, scale float64) *fn {
		return &fn{name: name, sigs: numeric(1, tTime, tTime), unary: func(v ref.Val) ref.Val {
			f, ok := asFloat(v)
			if !ok {
				return badArg(name, v)
			}
			if i, ok := v.(types.Int); ok {
				return timestampFromInt(name, int64(i), int64(scale))
			}
			secs := f / scale
			if math.IsNaN(secs) || math.Abs(secs) > 1e13 {
				return errorf("%s: %g out of range", name, f)
			}
			sec, frac := math.Modf(secs)
			return types.Timestamp{Time: time.Unix(int64(sec), int64(frac*1e9)).UTC()}
		}}
	}
	return []*fn{
		timePart("year", time.Time.Year),
		timePart("month", func(t time.Time) int { return int(t.Month()) }),
		timePart("quarter", func(t time.Time) int { return (int(t.Month())-1)/3 + 1 }),
		timePart("dayofmonth", time.Time.Day),
		timePart("day", time.Time.Day),
		timePart("dayofweek", func(t time.Time) int { return int(t.Weekday()) + 1 }),     // 1 = Sunday … 7 = Saturday
		timePart("weekday", func(t time.Time) int { return (int(t.Weekday()) + 6) % 7 }), // 0 = Monday … 6 = Sunday
		timePart("dayofyear", time.Time.YearDay),
		timePart("weekofyear", func(t time.Time) int { _, w := t.ISOWeek(); return w }),
		timePart("hour", time.Time.Hour),
		timePart("minute", time.Time.Minute),
		timePart("second", time.Time.Second),
		timePart("unix_seconds", time.Time.Unix),
		timePart("unix_millis", time.Time.UnixMilli),
		timePart("unix_micros", time.Time.UnixMicro),
		fromUnix("timestamp_seconds", 1),
		fromUnix("timestamp_millis", 1e3),
		fromUnix("timestamp_micros", 1e6),
		{name: "current_timestamp", sigs: []sig{s(tTime)}, vararg: now},
		{name: "now", sigs: []sig{s(tTime)}, vararg: now},
		{name: "datediff", sigs: []sig{s(tInt, tTime, tTime), s(tInt, tString, tString), s(tInt, tTime, tString), s(tInt, tString, tTime)},
			binary: func(a, b ref.Val) ref.Val {
				end, bad := toTime("datediff", a)
				if bad != nil {
					return bad
				}
				start, bad := toTime("datediff", b)
				if bad != nil {
					return bad
				}
				return types.Int(epochDay(end) - epochDay(start))
			}},
	}
}

func epochDay(t time.Time) int64 {
	return int64(math.Floor(float64(t.Unix()) / 86400))
}

func timestampFromInt(name string, n, perSecond int64) ref.Val {
	sec, sub := n/perSecond, n%perSecond
	if sub < 0 {
		sec, sub = sec-1, sub+perSecond
	}
	if sec < -62135596800 || sec > 253402300799 { // years 1 to 9999
		return errorf("%s: %d out of range", name, n)
	}
	return types.Timestamp{Time: time.Unix(sec, sub*(1e9/perSecond)).UTC()}
}

// toTime returns v as a UTC time. For a string that does not parse, bad
// is null; for a value of another type, bad is an error.
func toTime(name string, v ref.Val) (t time.Time, bad ref.Val) {
	switch x := v.(type) {
	case types.Timestamp:
		return x.Time.UTC(), nil
	case types.String:
		t, ok := parseTime(string(x))
		if !ok {
			return t, types.NullValue
		}
		return t, nil
	}
	return time.Time{}, badArg(name, v)
}

// parseTime parses a timestamp in one of the forms toTime accepts.
func parseTime(str string) (time.Time, bool) {
	var layouts []string
	switch {
	case len(str) == 10:
		layouts = []string{time.DateOnly}
	case len(str) > 10 && str[10] == 'T':
		layouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05"}
	case len(str) > 10 && str[10] == ' ':
		layouts = []string{time.DateTime, "2006-01-02 15:04:05Z07:00"}
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, str, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// datetimeFuncs are the datetime functions with a pattern argument.
func datetimeFuncs() []constArg {
	prepare := func(p string) (any, error) { return javaLayout(p) }
	// unixTime is to_unix_timestamp and unix_timestamp: seconds since the
	// epoch of a timestamp, or of a string parsed with the pattern.
	unixTime := func(name string) constArg {
		sigs := []sig{s(tInt, tTime), s(tInt, tString), s(tInt, tTime, tString), s(tInt, tString, tString)}
		if name == "unix_timestamp" {
			sigs = append(sigs, s(tInt))
		}
		return constArg{name: name, index: 1, def: defaultTimeFormat, sigs: sigs, prepare: prepare,
			apply: func(p any, args []ref.Val) ref.Val {
				if len(args) == 0 {
					return types.Int(time.Now().Unix())
				}
				t, bad := parseWith(name, args[0], p.(string), len(args) == 1)
				if bad != nil {
					return bad
				}
				return types.Int(t.Unix())
			}}
	}
	return []constArg{
		unixTime("to_unix_timestamp"),
		unixTime("unix_timestamp"),
		{name: "to_timestamp", index: 1, def: defaultTimeFormat,
			sigs:    []sig{s(tTime, tTime), s(tTime, tString), s(tTime, tString, tString)},
			prepare: prepare,
			apply: func(p any, args []ref.Val) ref.Val {
				t, bad := parseWith("to_timestamp", args[0], p.(string), len(args) == 1)
				if bad != nil {
					return bad
				}
				return types.Timestamp{Time: t}
			}},
		{name: "from_unixtime", index: 1, def: defaultTimeFormat,
			sigs:    []sig{s(tString, tInt), s(tString, tInt, tString), s(tString, tDouble), s(tString, tDouble, tString)},
			prepare: prepare,
			apply: func(p any, args []ref.Val) ref.Val {
				var secs int64
				switch x := args[0].(type) {
				case types.Int:
					secs = int64(x)
				case types.Double:
					if math.IsNaN(float64(x)) || math.Abs(float64(x)) > 1e13 {
						return errorf("from_unixtime: %g out of range", float64(x))
					}
					secs = int64(x)
				default:
					return badArg("from_unixtime", args[0])
				}
				if secs < -62135596800 || secs > 253402300799 {
					return errorf("from_unixtime: %d out of range", secs)
				}
				return types.String(time.Unix(secs, 0).UTC().Format(p.(string)))
			}},
		{name: "date_format", index: 1,
			sigs:    []sig{s(tString, tTime, tString), s(tString, tString, tString)},
			prepare: prepare,
			apply: func(p any, args []ref.Val) ref.Val {
				t, bad := toTime("date_format", args[0])
				if bad != nil {
					return bad
				}
				return types.String(t.Format(p.(string)))
			}},
	}
}

// parseWith returns v as a time: a timestamp as is, a string parsed with
// layout, or as toTime does when lenient (no pattern given) and the layout
// fails.
func parseWith(name string, v ref.Val, layout string, lenient bool) (time.Time, ref.Val) {
	str, ok := v.(types.String)
	if !ok {
		return toTime(name, v)
	}
	if t, err := time.ParseInLocation(layout, string(str), time.UTC); err == nil {
		return t.UTC(), nil
	}
	if lenient {
		return toTime(name, v)
	}
	return time.Time{}, types.NullValue
}
