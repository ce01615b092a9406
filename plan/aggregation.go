package plan

import (
	"fmt"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/transform"
	"github.com/feathrgo/feathr/window"
)

// Aggregation is a compiled sliding-window aggregation (see package
// window): its Spec and its programs.
type Aggregation struct {
	Spec window.Spec
	// Expr evaluates agg_expr: for SUM, AVG, MIN and MAX declared DOUBLE
	// (read it with EvalScalar); for the POOLING functions DOUBLE_VECTOR;
	// for LATEST the feature's declared type, as a row-level transform;
	// for COUNT and COUNT_DISTINCT without a declared type (read it with
	// Value).
	Expr *transform.Program
	// Filter evaluates the filter, without a declared type: true lets an
	// event through; false or null do not. Nil when there is none.
	Filter *transform.Program
}

// TargetAggregation is an aggregated feature of a target, with its index
// among its materialization's Aggregations, the order of the inputs of
// an event (sink.AggEvent.Inputs).
type TargetAggregation struct {
	*Feature
	Index int
}

// compileAggregation compiles the aggregated feature f of anchor a in the
// environment of its source, reporting every problem at its place in the
// file: agg_expr's type against the function (window.Func.CheckInput),
// the filter's (window.CheckFilter), and the expressions themselves.
func (c *compiler) compileAggregation(env *transform.Env, f *config.Feature) {
	a := f.Agg
	if a.Spec.Func == 0 || a.Expr == "" || a.Spec.Check() != nil || a.Spec.Func.CheckType(f.Type) != nil {
		return // reported by config
	}
	agg := &Aggregation{Spec: a.Spec}
	ok := true
	if a.Filter != "" {
		agg.Filter = c.compileAggExpr(env, f, a.Filter, a.FilterAt, 0, func(p *transform.Program) error {
			return window.CheckFilter(p.ResultType())
		}, "filter")
		ok = agg.Filter != nil
	}
	fn := a.Spec.Func
	agg.Expr = c.compileAggExpr(env, f, a.Expr, a.ExprAt, evalType(fn, f.Type), func(p *transform.Program) error {
		return fn.CheckInput(p.ResultType())
	}, "agg_expr")
	if !ok || agg.Expr == nil {
		return
	}
	c.feats[f.Name] = &Feature{Name: f.Name, Type: f.Type, Agg: agg}
}

// evalType is the declared type agg_expr is compiled with for function
// fn of a feature declared t; 0: none.
func evalType(fn window.Func, t feature.Type) feature.Type {
	switch fn {
	case window.Sum, window.Avg, window.Min, window.Max:
		return feature.Double
	case window.MaxPooling, window.MinPooling, window.AvgPooling:
		return feature.DoubleVector
	case window.Latest:
		return t
	}
	return 0
}

// compileAggExpr compiles expr (agg_expr or filter, whose positions at
// gives) without a declared type, checks its type with check, then, when
// out is not 0, compiles it again declared out for evaluation. It returns
// nil after reporting a problem.
func (c *compiler) compileAggExpr(env *transform.Env, f *config.Feature, expr string, at func(line, col int) config.Pos,
	out feature.Type, check func(*transform.Program) error, key string) *transform.Program {
	report := func(err error) {
		c.transformErrors(f, at, err)
	}
	p, err := env.CompileValue(expr)
	if err != nil {
		report(err)
		return nil
	}
	if err := check(p); err != nil {
		c.errorf(at(1, 1), "feature %s: %s: %v", f.Name, key, err)
		return nil
	}
	if out == 0 {
		return p
	}
	if p, err = env.Compile(expr, out); err != nil {
		report(err)
		return nil
	}
	return p
}

// String describes an aggregation, e.g. "COUNT(1) window 10m hop 1m
// allowed_lateness 1m".
func (a *Aggregation) String() string {
	s := fmt.Sprintf("%v(%s)", a.Spec.Func, a.Expr)
	if a.Filter != nil {
		s += " filter " + a.Filter.String()
	}
	sp := a.Spec
	return fmt.Sprintf("%s window %s hop %s allowed_lateness %s", s,
		window.FormatDuration(sp.Window), window.FormatDuration(sp.Hop), window.FormatDuration(sp.Lateness))
}
