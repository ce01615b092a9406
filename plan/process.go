package plan

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
	"github.com/feathrgo/feathr/transform"
)

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
	buf = sink.AppendKeyStart(buf, t.Materialization.Table.Name)
	for i, k := range t.Key {
		var err error
		buf, err = sink.AppendKeyPart(buf, i, r[k.Column], k.Type)
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
