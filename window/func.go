package window

import (
	"fmt"
	"strings"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

// Func is an aggregation function, Feathr's agg_func.
type Func uint8

// The aggregation functions. Per function, the tile's partial aggregate
// (see Tile), how two tiles merge, and when the value is null:
const (
	// Sum: the sum of the non-null inputs, as a double; null when there
	// are none.
	Sum Func = iota + 1
	// Count: the number of events that passed the filter and whose
	// agg_expr is not null; null when no event passed the filter (so 0
	// when events passed but all were null), as Feathr's SWJ.
	Count
	// Avg: the sum over the count of the non-null inputs, a double; null
	// when there are none. Feathr fails the job on a null input; we skip
	// it.
	Avg
	// Min: the smallest non-null input, as Java's Math.min (NaN wins, −0
	// is below +0); null when there are none.
	Min
	// Max: the largest non-null input, as Java's Math.max (NaN wins, +0 is
	// above −0); null when there are none.
	Max
	// Latest: the non-null input with the newest event time; of equal
	// times, the one applied later. Null when there are none.
	Latest
	// MaxPooling: the element-wise Max of the non-null vectors, all of
	// one length (a vector of another length is rejected).
	MaxPooling
	// MinPooling: the element-wise Min of the non-null vectors.
	MinPooling
	// AvgPooling: the element-wise average of the non-null vectors, as
	// doubles. Feathr counts null vectors in the denominator; we skip
	// them.
	AvgPooling
	// CountDistinct: the number of distinct non-null values (by their
	// 64-bit hash). In Redis it is a HyperLogLog estimate (standard error
	// 0.81%); here, exact. Feathr counts a null as a value; we do not.
	CountDistinct
)

// funcNames are the canonical names, indexed by Func.
var funcNames = [...]string{
	Sum: "SUM", Count: "COUNT", Avg: "AVG", Min: "MIN", Max: "MAX", Latest: "LATEST",
	MaxPooling: "MAX_POOLING", MinPooling: "MIN_POOLING", AvgPooling: "AVG_POOLING",
	CountDistinct: "COUNT_DISTINCT",
}

// notOffered are the names Feathr's AggregationType lists that feathr
// does not offer, with the reason given in the hint.
var notOffered = map[string]string{
	"TIMESINCE":               "Feathr lists TIMESINCE but its engines cannot run it (a MatchError at job time)",
	"SUM_POOLING":             "Feathr lists SUM_POOLING but its engines cannot run it (a MatchError at job time); AVG_POOLING is element-wise",
	"DISTINCT":                "Feathr's DISTINCT returns an unordered array and works only for INT and STRING; COUNT_DISTINCT counts distinct values",
	"BUCKETED_COUNT_DISTINCT": "it is internal to Feathr's engine",
	"BUCKETED_SUM":            "it is internal to Feathr's engine",
	"DUMMY":                   "it is internal to Feathr's engine",
}

// Funcs returns every function, in declaration order.
func Funcs() []Func {
	return []Func{Sum, Count, Avg, Min, Max, Latest, MaxPooling, MinPooling, AvgPooling, CountDistinct}
}

// String returns the function's canonical name, e.g. "COUNT_DISTINCT".
func (f Func) String() string {
	if f.valid() {
		return funcNames[f]
	}
	return fmt.Sprintf("Func(%d)", uint8(f))
}

func (f Func) valid() bool { return f >= Sum && f <= CountDistinct }

// IsPooling reports whether f aggregates vectors element-wise.
func (f Func) IsPooling() bool { return f == MaxPooling || f == MinPooling || f == AvgPooling }

// ParseFunc parses an agg_func name, in any case, e.g. "count" or "SUM".
// An unknown name, or one that Feathr lists but feathr does not offer, is
// an *Error whose hint says why and lists the functions.
func ParseFunc(s string) (Func, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, f := range Funcs() {
		if funcNames[f] == u {
			return f, nil
		}
	}
	want := "want one of " + funcList()
	if why, ok := notOffered[u]; ok {
		return 0, &Error{Key: "agg_func", Msg: fmt.Sprintf("agg_func %s is not offered", u), Hint: why + "; " + want}
	}
	return 0, &Error{Key: "agg_func", Msg: fmt.Sprintf("unknown agg_func %q", s), Hint: want}
}

func funcList() string {
	names := make([]string, 0, len(funcNames))
	for _, f := range Funcs() {
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}

// Error is a problem with a window aggregation's definition. Key names
// the transform key it is about ("agg_func", "agg_expr", "filter",
// "window", "hop", "allowed_lateness" or "type", the feature's declared
// type), for the caller to locate it; it is empty when the caller knows
// (ParseDuration).
type Error struct {
	Key  string
	Msg  string
	Hint string // when set, how to fix it
}

// Error returns "msg (hint: …)".
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + " (hint: " + e.Hint + ")"
}

// CheckInput reports whether f aggregates an agg_expr of type t, the type
// the expression checks to (record.Any for a dynamic value, which is then
// checked per record): nil, or an *Error with Key "agg_expr".
//
// SUM, AVG, MIN and MAX take an int or a float; COUNT and LATEST any value;
// COUNT_DISTINCT any scalar; the POOLING functions a list of numbers. An
// expression that is always null aggregates nothing and is an error, but
// for COUNT.
func (f Func) CheckInput(t record.Type) error {
	bad := func(want, hint string) error {
		return &Error{Key: "agg_expr", Msg: fmt.Sprintf("%s aggregates %s; agg_expr is %s", f, want, t), Hint: hint}
	}
	if t.Kind == record.Null && f != Count {
		return &Error{Key: "agg_expr", Msg: fmt.Sprintf("agg_expr is always null, so %s would always be null", f)}
	}
	switch f {
	case Sum, Avg, Min, Max:
		switch t.Kind {
		case record.Int, record.Float, record.Any:
			return nil
		case record.String:
			return bad("numbers", "parse it with cast_double(x)")
		case record.Bool:
			return bad("numbers", "convert it with if_else(c, 1, 0)")
		case record.Timestamp:
			return bad("numbers", "convert it with unix_millis(ts)")
		case record.Array:
			return bad("numbers", "the POOLING functions aggregate lists element-wise")
		}
		return bad("numbers", "")
	case Count, Latest:
		return nil
	case CountDistinct:
		switch t.Kind {
		case record.Array, record.Map:
			return bad("scalars", "count one field of it, or a string made of it")
		}
		return nil
	case MaxPooling, MinPooling, AvgPooling:
		if t.Kind == record.Any {
			return nil
		}
		if t.Kind == record.Array {
			if t.Elem == nil {
				return nil
			}
			switch t.Elem.Kind {
			case record.Int, record.Float, record.Any:
				return nil
			}
			return bad("lists of numbers", "")
		}
		scalar := map[Func]Func{MaxPooling: Max, MinPooling: Min, AvgPooling: Avg}[f]
		return bad("lists of numbers", fmt.Sprintf("use %s for a scalar", scalar))
	}
	return &Error{Key: "agg_func", Msg: fmt.Sprintf("invalid aggregation function %v", f)}
}

// CheckType reports whether f's value can be stored as the declared type
// t: nil, or an *Error with Key "type".
//
// COUNT, COUNT_DISTINCT, SUM, MIN and MAX: INT32, INT64, FLOAT or DOUBLE;
// AVG: FLOAT or DOUBLE; LATEST: any type (agg_expr is then checked against
// it as a row-level transform is); MAX_POOLING and MIN_POOLING: any
// vector type; AVG_POOLING: FLOAT_VECTOR or DOUBLE_VECTOR.
func (f Func) CheckType(t feature.Type) error {
	var ok []feature.Type
	hint := ""
	switch f {
	case Count, CountDistinct, Sum, Min, Max:
		ok = []feature.Type{feature.Int32, feature.Int64, feature.Float, feature.Double}
	case Avg:
		ok = []feature.Type{feature.Float, feature.Double}
		hint = "AVG's value is a double"
	case Latest:
		return nil
	case MaxPooling, MinPooling:
		ok = []feature.Type{feature.FloatVector, feature.DoubleVector, feature.Int32Vector, feature.Int64Vector}
	case AvgPooling:
		ok = []feature.Type{feature.FloatVector, feature.DoubleVector}
		hint = "AVG_POOLING's elements are doubles"
	default:
		return &Error{Key: "agg_func", Msg: fmt.Sprintf("invalid aggregation function %v", f)}
	}
	for _, o := range ok {
		if o == t {
			return nil
		}
	}
	names := make([]string, len(ok))
	for i, o := range ok {
		names[i] = o.String()
	}
	want := "declare " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if hint != "" {
		want = hint + ": " + want
	}
	return &Error{Key: "type", Msg: fmt.Sprintf("%s cannot be stored as %s", f, t), Hint: want}
}

// CheckFilter reports whether a filter of type t is boolean (or dynamic,
// checked per record): nil, or an *Error with Key "filter".
func CheckFilter(t record.Type) error {
	switch t.Kind {
	case record.Bool, record.Any:
		return nil
	}
	hint := "compare it, e.g. x > 0"
	if t.Kind == record.Null {
		hint = "a null filter lets no event through"
	}
	return &Error{Key: "filter", Msg: fmt.Sprintf("filter must be boolean, not %s", t), Hint: hint}
}
