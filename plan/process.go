package plan

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
	"github.com/feathrgo/feathr/transform"
)

// NullKey is how a null key part is written, as Feathr does.
const NullKey = "_null_"

// TargetError is a record that one target could not turn into an update:
// a transform failed, a value could not be converted, or a key was unusable.
type TargetError struct {
	Target  *Target
	Feature string // empty for a key problem
	Err     error
}

func (e *TargetError) Error() string {
	m := e.Target.Materialization.Config.Name
	if e.Feature != "" {
		return fmt.Sprintf("materialization %s: feature %s: %v", m, e.Feature, e.Err)
	}
	return fmt.Sprintf("materialization %s: key: %v", m, e.Err)
}

func (e *TargetError) Unwrap() error { return e.Err }

// Process evaluates every target of s for one decoded record and appends
// one update per target that produced at least one value to dst. A target
// that fails is left out and reported in errs; the others still produce
// their updates. The updates' Acker and Seq are left for the caller.
func (s *Source) Process(r record.Record, kafkaTime time.Time, dst []sink.Update) (out []sink.Update, errs []*TargetError) {
	eventTime := s.EventTime(r, kafkaTime).UnixMilli()
	sc, _ := s.scratch.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	sc.vars.Reset(r)
	defer func() {
		sc.vars.Reset(nil)
		s.scratch.Put(sc)
	}()
	for _, t := range s.Targets {
		u, err := t.update(r, sc, eventTime)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(u.Fields) > 0 {
			dst = append(dst, u)
		}
	}
	return dst, errs
}

// scratch is what Process reuses from one record to the next: the CEL
// activation, and chunks of memory that updates are cut from, so that an
// update costs no allocation of its own. A chunk is shared by the updates
// cut from it, each owning its part; the garbage collector frees it once
// none is referenced.
type scratch struct {
	vars   transform.Vars
	bytes  []byte       // the current chunk: [:len] is handed out
	fields []sink.Field // likewise
}

const (
	scratchBytes  = 16 << 10
	scratchFields = 256
)

// buf returns an empty buffer with room for n bytes at least, cut from
// the current chunk. Once filled, keep hands it out.
func (sc *scratch) buf(n int) []byte {
	if cap(sc.bytes)-len(sc.bytes) < n {
		sc.bytes = make([]byte, 0, max(scratchBytes, n))
	}
	return sc.bytes[len(sc.bytes):len(sc.bytes)]
}

// keep hands out buf, from buf and then filled: the next buffer starts
// after it. A buf that outgrew the chunk was moved by append and is its
// own.
func (sc *scratch) keep(buf []byte) {
	free := sc.bytes[len(sc.bytes):]
	if cap(free) > 0 && unsafe.SliceData(buf) == unsafe.SliceData(free) {
		sc.bytes = sc.bytes[:len(sc.bytes)+len(buf)]
	}
}

// fieldSlice returns n fields, cut from the current chunk.
func (sc *scratch) fieldSlice(n int) []sink.Field {
	if cap(sc.fields)-len(sc.fields) < n {
		sc.fields = make([]sink.Field, 0, max(scratchFields, n))
	}
	start := len(sc.fields)
	sc.fields = sc.fields[:start+n]
	return sc.fields[start : start+n : start+n]
}

func (t *Target) update(r record.Record, sc *scratch, eventTime int64) (sink.Update, *TargetError) {
	// One buffer holds the key and all encoded values of this update; it is
	// handed to the writer, which owns it from Submit on. Nothing writes
	// to it once it is complete: values and key are slices of it.
	buf := sc.buf(64 + len(t.Features)*16)
	buf = append(buf, t.Materialization.Table.Name...)
	buf = append(buf, ':')
	for i, k := range t.Key {
		if i > 0 {
			buf = append(buf, '#')
		}
		var err error
		buf, err = AppendKeyPart(buf, r[k.Column], k.Type)
		if err != nil {
			return sink.Update{}, &TargetError{Target: t, Err: fmt.Errorf("%s (column %s): %w", k.Name, k.Column, err)}
		}
	}
	keyEnd := len(buf)
	// Values are appended to buf, which may move as it grows, so their
	// places are kept as offsets until it is complete.
	type span struct {
		name       string
		start, end int
	}
	var spansArr [8]span
	spans := spansArr[:0]
	for _, f := range t.Features {
		v, err := f.Program.EvalVars(&sc.vars)
		if err != nil {
			return sink.Update{}, &TargetError{Target: t, Feature: f.Name, Err: err}
		}
		if v == nil {
			continue // a null result leaves the stored value as it is
		}
		start := len(buf)
		buf, err = sink.AppendValue(buf, v)
		if err != nil {
			return sink.Update{}, &TargetError{Target: t, Feature: f.Name, Err: err}
		}
		spans = append(spans, span{f.Name, start, len(buf)})
	}
	if len(spans) == 0 {
		return sink.Update{Table: t.Materialization.Table, Key: string(buf[:keyEnd]), EventTime: eventTime}, nil
	}
	sc.keep(buf)
	u := sink.Update{Table: t.Materialization.Table, Key: unsafe.String(&buf[0], keyEnd), EventTime: eventTime}
	u.Fields = sc.fieldSlice(len(spans))
	for i, sp := range spans {
		u.Fields[i] = sink.Field{Name: sp.name, Value: buf[sp.start:sp.end:sp.end]}
	}
	return u, nil
}

// AppendKeyPart appends the string form of one key column's value, as
// Feathr writes it into a Redis key: numbers in decimal (doubles as Spark
// prints them, e.g. "1.0"), booleans as "true"/"false", null as "_null_".
func AppendKeyPart(dst []byte, v any, t feature.KeyType) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, NullKey...), nil
	case int64:
		switch t {
		case feature.KeyFloat:
			return appendSparkDouble(dst, float64(float32(v)), 32), nil
		case feature.KeyDouble:
			return appendSparkDouble(dst, float64(v), 64), nil
		case feature.KeyInt32:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return dst, fmt.Errorf("%d overflows INT32", v)
			}
		}
		return strconv.AppendInt(dst, v, 10), nil
	case float64:
		switch t {
		case feature.KeyInt32, feature.KeyInt64:
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= math.MaxInt64 {
				return dst, fmt.Errorf("%v is not an integer key", v)
			}
			if t == feature.KeyInt32 && (v <= math.MinInt32-1 || v >= math.MaxInt32+1) {
				return dst, fmt.Errorf("%v overflows INT32", v)
			}
			return strconv.AppendInt(dst, int64(v), 10), nil
		case feature.KeyFloat:
			return appendSparkDouble(dst, float64(float32(v)), 32), nil
		}
		return appendSparkDouble(dst, v, 64), nil
	case string:
		if t == feature.KeyInt32 || t == feature.KeyInt64 {
			// The canonical decimal, so that "007" and 7 are the same key.
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return dst, fmt.Errorf("%q is not an integer", v)
			}
			if t == feature.KeyInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
				return dst, fmt.Errorf("%d overflows INT32", n)
			}
			return strconv.AppendInt(dst, n, 10), nil
		}
		return append(dst, v...), nil
	case []byte:
		return append(dst, v...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case time.Time:
		if t == feature.KeyInt64 {
			return strconv.AppendInt(dst, v.UnixMilli(), 10), nil
		}
		// As Spark casts a timestamp to a string (UTC session time zone):
		// the fraction of a second only when it is not zero.
		return v.UTC().AppendFormat(dst, "2006-01-02 15:04:05.999999"), nil
	}
	return dst, fmt.Errorf("a %T cannot be a key", v)
}

// appendSparkDouble formats f as Spark (Java) casts a double to a string:
// "1.0", "0.5", "1.0E10", "1.0E-5".
func appendSparkDouble(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-3 && abs < 1e7) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, bits)
		for _, c := range dst[start:] {
			if c == '.' {
				return dst
			}
		}
		return append(dst, ".0"...)
	}
	// Java's scientific form: mantissa with at least one decimal, "E", exponent.
	s := strconv.FormatFloat(f, 'e', -1, bits) // e.g. 1e+10, 1.5e-05
	mant, exp := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' {
			mant, exp = s[:i], s[i+1:]
			break
		}
	}
	dst = append(dst, mant...)
	hasDot := false
	for _, c := range mant {
		if c == '.' {
			hasDot = true
		}
	}
	if !hasDot {
		dst = append(dst, ".0"...)
	}
	dst = append(dst, 'E')
	if exp[0] == '+' {
		exp = exp[1:]
	} else if exp[0] == '-' {
		dst = append(dst, '-')
		exp = exp[1:]
	}
	for len(exp) > 1 && exp[0] == '0' {
		exp = exp[1:]
	}
	return append(dst, exp...)
}
