package config

import (
	"errors"
	"strings"
	"time"

	"github.com/feathrgo/feathr/window"
	"go.yaml.in/yaml/v3"
)

// aggregationKeys are the keys of a transform that is a mapping: Feathr's
// WindowAggTransformation, plus hop and allowed_lateness.
var aggregationKeys = []string{"agg_func", "agg_expr", "window", "filter", "hop", "allowed_lateness"}

// Aggregation is a feature's sliding-window aggregation: its transform
// when that is a mapping {agg_func, agg_expr, window, filter, hop,
// allowed_lateness} (see package window for the semantics).
type Aggregation struct {
	// Spec is the function and its times; Hop is window.DefaultHop of
	// the window when the file sets none, Lateness one Hop when it sets
	// no allowed_lateness. Its Func is zero when agg_func is broken
	// (reported).
	Spec window.Spec
	// Expr is agg_expr, the expression aggregated; Filter the optional
	// boolean expression an event must pass, empty when there is none.
	Expr, Filter string
	// Pos is where the transform mapping starts; KeyPos gives the
	// position of each of its keys' values.
	Pos Pos

	keys      map[string]Pos // the position of each key's value
	exprLoc   *locator       // maps agg_expr's text into the file
	filterLoc *locator       // maps filter's text into the file
}

// KeyPos returns the position of the value of key, one of the transform
// keys or "type" (the feature's declared type, as window.Error.Key names
// them): the value's position, else the mapping's when the key is not
// set (its default is meant).
func (a *Aggregation) KeyPos(key string) Pos {
	if p, ok := a.keys[key]; ok {
		return p
	}
	return a.Pos
}

// ExprAt returns the file position of line and column (1-based, the
// column in characters) of agg_expr's text, as Feature.TransformAt does
// for a row-level transform.
func (a *Aggregation) ExprAt(line, col int) Pos {
	return textAt(a.exprLoc, a.KeyPos("agg_expr"), a.Pos, line, col)
}

// FilterAt returns the file position of line and column of filter's
// text, as ExprAt.
func (a *Aggregation) FilterAt(line, col int) Pos {
	return textAt(a.filterLoc, a.KeyPos("filter"), a.Pos, line, col)
}

// aggregation decodes the transform mapping t of feature f: every key
// parsed with package window's parsers and the Spec's rules checked, each
// error at the value it is about. The declared type is checked by
// checkAggregationType once the feature's type is known.
func (p *parser) aggregation(t *entry) *Aggregation {
	a := &Aggregation{Pos: t.valPos(), keys: map[string]Pos{}}
	m := p.object(t.val, t.ctx, aggregationKeys...)
	for k, e := range m {
		a.keys[k] = e.valPos()
	}
	// windowErr reports a *window.Error of key (or of the key it names).
	windowErr := func(key string, err error) {
		var we *window.Error
		for _, e := range unjoin(err) {
			k := key
			if errors.As(e, &we) && we.Key != "" {
				k = we.Key
			}
			if _, set := a.keys[k]; k == "allowed_lateness" && !set {
				continue // the default, one hop: the hop's error says it
			}
			p.errorf(a.KeyPos(k), "%s: %v", t.ctx.field(k), e)
		}
	}
	ok := true // the times parsed: the Spec's rules can be checked
	if e := m["agg_func"]; e.present() {
		if s, sok := p.scalar(e); sok {
			f, err := window.ParseFunc(s)
			if err != nil {
				windowErr("agg_func", err)
			}
			a.Spec.Func = f
		}
	} else {
		p.required(m, "agg_func", a.Pos, t.ctx, " (one of "+strings.Join(funcNames(), ", ")+")")
	}
	if e := m["agg_expr"]; e.present() {
		a.Expr, a.exprLoc = p.expression(e)
	} else {
		p.required(m, "agg_expr", a.Pos, t.ctx, ` (the expression aggregated, e.g. "1" for COUNT)`)
	}
	if e := m["filter"]; e.present() {
		a.Filter, a.filterLoc = p.expression(e)
	}
	duration := func(key string, parse func(string) (time.Duration, error)) (time.Duration, bool) {
		e := m[key]
		s, sok := p.scalar(e)
		if !sok {
			return 0, false
		}
		d, err := parse(s)
		if err != nil {
			windowErr(key, err)
			return 0, false
		}
		return d, true
	}
	if m["window"].present() {
		w, wok := duration("window", window.ParseDuration)
		a.Spec.Window, ok = w, wok
	} else {
		ok = false
		p.required(m, "window", a.Pos, t.ctx, " (e.g. 10m, 1h or 7d)")
	}
	if ok {
		a.Spec.Hop = window.DefaultHop(a.Spec.Window)
	}
	if m["hop"].present() {
		h, hok := duration("hop", window.ParseDuration)
		a.Spec.Hop, ok = h, ok && hok
	}
	a.Spec.Lateness = a.Spec.Hop
	if m["allowed_lateness"].present() {
		l, lok := duration("allowed_lateness", window.ParseLateness)
		a.Spec.Lateness, ok = l, ok && lok
	}
	if ok && a.Spec.Func != 0 {
		if err := a.Spec.Check(); err != nil {
			windowErr("", err)
		}
	}
	return a
}

// expression returns the text of an expression value (agg_expr, filter)
// and its locator; an empty one is reported.
func (p *parser) expression(e *entry) (string, *locator) {
	s, ok := p.scalar(e)
	if !ok {
		return "", nil
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(e.valPos(), "%s: is empty", e.ctx)
		return "", nil
	}
	return s, p.src.locate(e.val)
}

// checkAggregationType reports a declared type that f's function cannot
// be stored as (window.Func.CheckType), at the type's position.
func (p *parser) checkAggregationType(f *Feature, c ctx) {
	a := f.Agg
	if a == nil || a.Spec.Func == 0 || f.Type == 0 {
		return
	}
	if err := a.Spec.Func.CheckType(f.Type); err != nil {
		p.errorf(f.TypePos, "%s: %v", c.field("type"), err)
	}
}

// isAggregation reports whether a transform value is a mapping (an
// aggregation) rather than an expression.
func isAggregation(t *entry) bool { return t.val != nil && t.val.Kind == yaml.MappingNode }

// funcNames returns the names of the aggregation functions.
func funcNames() []string {
	var out []string
	for _, f := range window.Funcs() {
		out = append(out, f.String())
	}
	return out
}

// unjoin returns the errors joined in err (errors.Join), or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// IsAggregation reports whether f is a sliding-window aggregation.
func (f *Feature) IsAggregation() bool { return f.Agg != nil }
