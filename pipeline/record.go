package pipeline

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
	"github.com/feathrgo/feathr/transform"
	"github.com/feathrgo/feathr/window"
)

// recordPath is the one way a message becomes updates: it decodes the
// message's value, reads its event time, and evaluates every target of
// its source: the entity key, each feature's transform, and the encoded
// values. Each partition has its own, so that it reuses its memory from
// one record to the next; it is for one goroutine at a time.
type recordPath struct {
	src *source
	// rec is the record decoded last: the next message is decoded into
	// its memory. Nothing keeps a record past its message.
	rec  record.Record
	vars transform.Vars   // the transforms' activation of the current record
	now  func() time.Time // the clock event times are checked against; nil: time.Now
	seen time.Time        // the clock's time at the last check of max_future_skew

	// Chunks of memory that updates are cut from, so that an update costs
	// no allocation of its own. A chunk is shared by the updates cut from
	// it, each owning its part; the garbage collector frees it once none
	// is referenced.
	bytes  []byte          // the current chunk: [:len] is handed out
	fields []sink.Field    // likewise
	inputs []window.Input  // likewise, the inputs of aggregate events
	events []sink.AggEvent // likewise, the aggregate events

	// pos is the message being processed, for its aggregate events; its
	// partition sets it.
	pos kafkaPos
}

const (
	chunkBytes  = 16 << 10
	chunkFields = 256
)

// errKind is what failed in a bad record.
type errKind uint8

const (
	kindDecode    errKind = iota // the message could not be decoded
	kindEventTime                // its event time is too far in the future
	kindKey                      // a target's entity key could not be built
	kindFeature                  // a target's feature failed to evaluate or convert
)

// evalError is a record that a target could not turn into an update (a
// transform failed, a value did not convert, the key was unusable), or
// that fails every target (it could not be decoded, or its event time is
// too far ahead of the clock; target nil).
type evalError struct {
	kind    errKind
	target  *target // nil for kindDecode and kindEventTime
	feature string  // the failing feature, for kindFeature
	err     error
}

func (e *evalError) Error() string {
	switch {
	case e.kind == kindDecode:
		return "decode: " + e.err.Error()
	case e.kind == kindEventTime:
		return "event time: " + e.err.Error()
	case e.feature != "":
		return fmt.Sprintf("materialization %s: feature %s: %v", e.target.name, e.feature, e.err)
	}
	return fmt.Sprintf("materialization %s: key: %v", e.target.name, e.err)
}

func (e *evalError) Unwrap() error { return e.err }

// process decodes value and evaluates it (see evaluate). A value that
// cannot be decoded is one error with no target: it fails every target.
func (rp *recordPath) process(value []byte, kafkaTime time.Time, dst []sink.Update) ([]sink.Update, []*evalError) {
	rec, err := decode.Reuse(rp.src.Decoder, value, rp.rec)
	if err != nil {
		return dst, []*evalError{{kind: kindDecode, err: err}}
	}
	rp.rec = rec
	return rp.evaluate(rec, kafkaTime, dst)
}

// evaluate evaluates every target for one decoded record and appends one
// update per target that produced at least one value to dst. A target
// that fails is left out and reported; the others still produce their
// updates. An event time further ahead of the clock than the source's
// max_future_skew fails every target: one such event would make every
// later update of its keys stale (ordering: event), so it is a bad record.
// The updates' Acker and Seq are left for the caller.
func (rp *recordPath) evaluate(r record.Record, kafkaTime time.Time, dst []sink.Update) (out []sink.Update, errs []*evalError) {
	at := rp.src.EventTime(r, kafkaTime)
	if skew := rp.src.Config.MaxFutureSkew; skew > 0 && at.Sub(rp.seen) > skew {
		// rp.seen is a time the clock showed (or zero), so at is no
		// further ahead of now than of it: the clock is read only when
		// at is too far ahead of it, about once per skew while event
		// times follow the clock, not per record.
		rp.seen = rp.clock()
		if ahead := at.Sub(rp.seen); ahead > skew {
			return dst, []*evalError{{kind: kindEventTime, err: fmt.Errorf("%s is %v ahead of the clock (max_future_skew %v)",
				at.UTC().Format(time.RFC3339Nano), ahead.Round(time.Millisecond), skew)}}
		}
	}
	eventTime := at.UnixMilli()
	rp.vars.Reset(r)
	defer rp.vars.Reset(nil) // keep nothing of the record
	for _, t := range rp.src.targets {
		u, err := rp.update(t, r, eventTime)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(u.Fields) > 0 || u.Agg != nil {
			dst = append(dst, u)
		}
	}
	return dst, errs
}

// update evaluates one target: its key, its row-level features and its
// aggregated features' event (aggEvent), into one buffer that
// holds the key and every encoded value. The buffer is handed to the
// writer, which owns it from Submit on; nothing writes to it once it is
// complete: the key and values are slices of it.
func (rp *recordPath) update(t *target, r record.Record, eventTime int64) (sink.Update, *evalError) {
	buf := rp.buf(64 + len(t.Features)*16)
	buf = sink.AppendKeyStart(buf, t.table.Name)
	for i, k := range t.Key {
		var err error
		buf, err = sink.AppendKeyPart(buf, i, r[k.Column], k.Type)
		if err != nil {
			return sink.Update{}, &evalError{kind: kindKey, target: t, err: fmt.Errorf("%s (column %s): %w", k.Name, k.Column, err)}
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
		start := len(buf)
		var null bool
		var err error
		buf, null, err = appendFeature(buf, f.Program, &rp.vars)
		if err != nil {
			return sink.Update{}, &evalError{kind: kindFeature, target: t, feature: f.Name, err: err}
		}
		if null {
			continue // a null result leaves the stored value as it is
		}
		spans = append(spans, span{f.Name, start, len(buf)})
	}
	var agg *sink.AggEvent
	if len(t.Aggregations) > 0 {
		var err *evalError
		if buf, agg, err = rp.aggEvent(t, buf, eventTime); err != nil {
			return sink.Update{}, err
		}
	}
	if len(spans) == 0 && agg == nil {
		return sink.Update{Table: t.table, Key: string(buf[:keyEnd]), EventTime: eventTime}, nil
	}
	buf = rp.keep(buf)
	u := sink.Update{Table: t.table, Key: unsafe.String(&buf[0], keyEnd), EventTime: eventTime, Agg: agg}
	if len(spans) == 0 {
		return u, nil
	}
	u.Fields = rp.fieldSlice(len(spans))
	for i, sp := range spans {
		u.Fields[i] = sink.Field{Name: sp.name, Value: buf[sp.start:sp.end:sp.end]}
	}
	return u, nil
}

func (rp *recordPath) clock() time.Time {
	if rp.now != nil {
		return rp.now()
	}
	return time.Now()
}

// appendFeature evaluates p for the current record and appends its
// encoded value to buf; null reports a null result (nothing appended). A
// scalar is evaluated and encoded without boxing it (no allocation).
func appendFeature(buf []byte, p *transform.Program, vars *transform.Vars) (out []byte, null bool, err error) {
	if !p.Type().IsVector() {
		s, ok, err := p.EvalScalar(vars)
		if err != nil || !ok {
			return buf, true, err
		}
		buf, err = sink.AppendScalar(buf, s)
		return buf, false, err
	}
	v, err := p.EvalVars(vars)
	if err != nil || v == nil {
		return buf, true, err
	}
	buf, err = sink.AppendValue(buf, v)
	return buf, false, err
}

// buf returns an empty buffer with room for n bytes at least, cut from
// the current chunk. Once filled, keep hands it out.
func (rp *recordPath) buf(n int) []byte {
	if cap(rp.bytes)-len(rp.bytes) < n {
		rp.bytes = make([]byte, 0, max(chunkBytes, n))
	}
	return rp.bytes[len(rp.bytes):len(rp.bytes)]
}

// keep hands out buf, from buf and then filled, and returns it: the next
// buffer starts after it. A buf that outgrew the chunk was moved by
// append and is its own; it is trimmed to its length, as append may have
// doubled it: the writer bounds its memory by the bytes of the updates it
// holds, and a large value (100 KB) would otherwise hold twice that.
func (rp *recordPath) keep(buf []byte) []byte {
	free := rp.bytes[len(rp.bytes):]
	if cap(free) > 0 && unsafe.SliceData(buf) == unsafe.SliceData(free) {
		rp.bytes = rp.bytes[:len(rp.bytes)+len(buf)]
		return buf
	}
	if cap(buf) > len(buf)+len(buf)/4 {
		buf = append(make([]byte, 0, len(buf)), buf...)
	}
	return buf
}

// fieldSlice returns n fields, cut from the current chunk.
func (rp *recordPath) fieldSlice(n int) []sink.Field {
	if cap(rp.fields)-len(rp.fields) < n {
		rp.fields = make([]sink.Field, 0, max(chunkFields, n))
	}
	start := len(rp.fields)
	rp.fields = rp.fields[:start+n]
	return rp.fields[start : start+n : start+n]
}
