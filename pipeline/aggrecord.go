package pipeline

import (
	"errors"
	"fmt"

	"github.com/feathrgo/feathr/sink"
	"github.com/feathrgo/feathr/window"
)

// The record path's part for aggregated features: per event, each
// aggregated feature of a target gives an input (window.Input), in the
// order of its materialization's aggregations (plan.TargetAggregation),
// carried with the event's place in Kafka on the target's update
// (sink.Update.Agg), which the writer applies exactly once.

// kafkaPos is where the message being processed is in Kafka: the
// aggregation script applies each partition's events once by offset.
type kafkaPos struct {
	topic     string
	partition int32
	offset    int64
}

// errFilterNotBool is the error of a filter whose value is neither a
// bool nor null (a dynamic value of a schemaless source).
var errFilterNotBool = errors.New("filter is not boolean")

// aggEvent evaluates the aggregated features of t for the current record
// at eventTime and returns their event, nil when no feature has a row
// (every filter false or null, or the event late for each). LATEST's
// values are appended to buf, which it returns. An event at or before
// now − window − allowed_lateness of a feature is late there: not sent,
// and counted once per event in t.late.
func (rp *recordPath) aggEvent(t *target, buf []byte, eventTime int64) ([]byte, *sink.AggEvent, *evalError) {
	n := len(t.Materialization.Aggregations)
	ins := rp.inputSlice(n)
	now := rp.clock().UnixMilli()
	type span struct{ i, start, end int }
	var spansArr [4]span
	spans := spansArr[:0]
	rows, late := 0, false
	for _, ta := range t.Aggregations {
		a := ta.Agg
		fail := func(err error) ([]byte, *sink.AggEvent, *evalError) {
			return buf, nil, &evalError{kind: kindFeature, target: t, feature: ta.Name, err: err}
		}
		if a.Filter != nil {
			v, err := a.Filter.Value(&rp.vars)
			if err != nil {
				return fail(fmt.Errorf("filter: %w", err))
			}
			pass, ok := v.(bool)
			if !ok && v != nil {
				return fail(fmt.Errorf("%w: %T", errFilterNotBool, v))
			}
			if !pass {
				continue // not a row: InputSkip
			}
		}
		if a.Spec.Late(eventTime, now) {
			late = true
			continue
		}
		in := &ins[ta.Index]
		in.Kind = window.InputValue
		switch fn := a.Spec.Func; fn {
		case window.Count, window.CountDistinct:
			v, err := a.Expr.Value(&rp.vars)
			if err != nil {
				return fail(err)
			}
			if v == nil {
				in.Kind = window.InputNull
			} else if fn == window.CountDistinct {
				if in.Hash, err = window.Hash(v); err != nil {
					return fail(err)
				}
			}
		case window.Sum, window.Avg, window.Min, window.Max:
			s, ok, err := a.Expr.EvalScalar(&rp.vars)
			if err != nil {
				return fail(err)
			}
			if !ok {
				in.Kind = window.InputNull
			}
			in.Num = s.Float64()
		case window.MaxPooling, window.MinPooling, window.AvgPooling:
			v, err := a.Expr.EvalVars(&rp.vars)
			if err != nil {
				return fail(err)
			}
			vec, _ := v.([]float64)
			if v == nil {
				in.Kind = window.InputNull
			}
			in.Vec = vec
		case window.Latest:
			start := len(buf)
			var null bool
			var err error
			if buf, null, err = appendFeature(buf, a.Expr, &rp.vars); err != nil {
				return fail(err)
			}
			if null {
				in.Kind = window.InputNull
			} else {
				spans = append(spans, span{ta.Index, start, len(buf)})
			}
		}
		rows++
	}
	if late {
		t.late.Add(1)
	}
	if rows == 0 {
		rp.inputs = rp.inputs[:len(rp.inputs)-n] // nothing refers to them
		return buf, nil, nil
	}
	for _, sp := range spans {
		ins[sp.i].Value = buf[sp.start:sp.end:sp.end]
	}
	ev := rp.aggEventSlot()
	*ev = sink.AggEvent{Topic: rp.pos.topic, Partition: rp.pos.partition, Offset: rp.pos.offset, Time: eventTime, Inputs: ins}
	return buf, ev, nil
}

// inputSlice returns n inputs, each InputSkip, cut from the current
// chunk.
func (rp *recordPath) inputSlice(n int) []window.Input {
	if cap(rp.inputs)-len(rp.inputs) < n {
		rp.inputs = make([]window.Input, 0, max(chunkFields, n))
	}
	start := len(rp.inputs)
	rp.inputs = rp.inputs[:start+n]
	ins := rp.inputs[start : start+n : start+n]
	clear(ins) // it may have been handed out and taken back (aggEvent)
	return ins
}

// aggEventSlot returns an event cut from the current chunk.
func (rp *recordPath) aggEventSlot() *sink.AggEvent {
	if len(rp.events) == cap(rp.events) {
		rp.events = make([]sink.AggEvent, 0, chunkFields)
	}
	rp.events = rp.events[:len(rp.events)+1]
	return &rp.events[len(rp.events)-1]
}

// aggInputs describes an aggregate event's inputs for a dry run's row,
// by feature: the inputs that are rows (see Row.Aggregates).
func aggInputs(t *sink.Table, ev *sink.AggEvent) map[string]any {
	out := map[string]any{}
	for i, f := range t.Aggregations() {
		if i >= len(ev.Inputs) {
			break
		}
		in := ev.Inputs[i]
		switch {
		case in.Kind == window.InputSkip:
			continue
		case in.Kind == window.InputNull:
			out[f.Name] = nil
		case f.Spec.Func == window.Count:
			out[f.Name] = 1
		case f.Spec.Func == window.Latest:
			v, err := sink.DecodeValue(in.Value)
			if err != nil {
				v = fmt.Sprintf("<%v>", err)
			}
			out[f.Name] = v
		case f.Spec.Func.IsPooling():
			out[f.Name] = in.Vec
		case f.Spec.Func == window.CountDistinct:
			out[f.Name] = fmt.Sprintf("%016x", in.Hash)
		default:
			out[f.Name] = in.Num
		}
	}
	return out
}
