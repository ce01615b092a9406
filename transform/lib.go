package transform

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Shorthands for the CEL types used in signatures.
var (
	tBool   = cel.BoolType
	tInt    = cel.IntType
	tDouble = cel.DoubleType
	tString = cel.StringType
	tBytes  = cel.BytesType
	tTime   = cel.TimestampType
	tNull   = cel.NullType
	tA      = cel.TypeParamType("A")
	tListA  = cel.ListType(cel.TypeParamType("A"))
	tListS  = cel.ListType(cel.StringType)
)

// sig is one overload of a function: its argument types and result type,
// and optionally an implementation of its own (else the function's).
type sig struct {
	args   []*cel.Type
	result *cel.Type
	member bool
	impl   any // func(ref.Val) ref.Val, func(ref.Val, ref.Val) ref.Val or func(...ref.Val) ref.Val
}

// fn is a library function: its overloads and one implementation per
// arity. The implementation dispatches on the run time types of its
// arguments itself: CEL's per-overload type guards are disabled, because
// they would reject null, which every function must accept.
type fn struct {
	name string
	sigs []sig
	// unary, binary and vararg implement the calls with 1, 2 and any
	// number of arguments; the most specific one present is used.
	unary  func(ref.Val) ref.Val
	binary func(ref.Val, ref.Val) ref.Val
	vararg func(...ref.Val) ref.Val
	// nullable marks a function that handles null arguments itself;
	// otherwise any null argument makes the result null without a call.
	nullable bool
	// float1, when set, is the function of one number as a float64
	// function, which the fast path calls; nullIf, when set, tells the
	// arguments for which the result is null instead.
	float1 func(float64) float64
	nullIf func(float64) bool
}

func s(result *cel.Type, args ...*cel.Type) sig { return sig{args: args, result: result} }

func m(result *cel.Type, args ...*cel.Type) sig { return sig{args: args, result: result, member: true} }

// numeric returns the int and double signatures of a numeric function of n
// arguments with the given results: all ints give intRes, any double gives
// dblRes.
func numeric(n int, intRes, dblRes *cel.Type) []sig {
	var out []sig
	for mask := 0; mask < 1<<n; mask++ {
		args := make([]*cel.Type, n)
		res := intRes
		for i := range n {
			args[i] = tInt
			if mask&(1<<i) != 0 {
				args[i] = tDouble
				res = dblRes
			}
		}
		out = append(out, s(res, args...))
	}
	return out
}

// repeat returns signatures taking from min to max arguments of type arg.
func repeat(min, max int, result, arg *cel.Type, prefix ...*cel.Type) []sig {
	var out []sig
	for n := min; n <= max; n++ {
		args := append([]*cel.Type{}, prefix...)
		for range n {
			args = append(args, arg)
		}
		out = append(out, s(result, args...))
	}
	return out
}

// maxVarargs is the most arguments a variadic function (concat, coalesce,
// greatest, …) accepts.
const maxVarargs = 8

// decl builds the CEL declaration of f.
func (f *fn) decl() (*decls.FunctionDecl, error) {
	opts := []decls.FunctionOpt{decls.DisableTypeGuards(true)}
	for _, sg := range f.sigs {
		id := overloadID(f.name, sg)
		binding, err := f.binding(sg)
		if err != nil {
			return nil, err
		}
		if sg.member {
			opts = append(opts, decls.MemberOverload(id, sg.args, sg.result, binding))
		} else {
			opts = append(opts, decls.Overload(id, sg.args, sg.result, binding))
		}
	}
	d, err := decls.NewFunction(f.name, opts...)
	if err != nil {
		return nil, fmt.Errorf("declare %s: %w", f.name, err)
	}
	return d, nil
}

func (f *fn) binding(sg sig) (decls.OverloadOpt, error) {
	impl := sg.impl
	n := len(sg.args)
	if impl == nil {
		switch {
		case n == 1 && f.unary != nil:
			impl = f.unary
		case n == 2 && f.binary != nil:
			impl = f.binary
		case f.vararg != nil:
			impl = f.vararg
		default:
			return nil, fmt.Errorf("function %s: no implementation for %d arguments", f.name, n)
		}
	}
	switch x := impl.(type) {
	case func(ref.Val) ref.Val:
		if !f.nullable {
			x = nullUnary(x)
		}
		return decls.UnaryBinding(x), nil
	case func(ref.Val, ref.Val) ref.Val:
		if !f.nullable {
			x = nullBinary(x)
		}
		return decls.BinaryBinding(x), nil
	case func(...ref.Val) ref.Val:
		if !f.nullable {
			x = nullVararg(x)
		}
		return decls.FunctionBinding(x), nil
	}
	return nil, fmt.Errorf("function %s: bad implementation %T", f.name, impl)
}

func overloadID(name string, sg sig) string {
	var b strings.Builder
	b.WriteString(name)
	if sg.member {
		b.WriteString("_member")
	}
	for _, a := range sg.args {
		b.WriteByte('_')
		b.WriteString(a.String())
	}
	if len(sg.args) == 0 {
		b.WriteString("_void")
	}
	return b.String()
}

func isNull(v ref.Val) bool {
	_, ok := v.(types.Null)
	return ok
}

func nullUnary(f func(ref.Val) ref.Val) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		if isNull(v) {
			return types.NullValue
		}
		return f(v)
	}
}

func nullBinary(f func(ref.Val, ref.Val) ref.Val) func(ref.Val, ref.Val) ref.Val {
	return func(a, b ref.Val) ref.Val {
		if isNull(a) || isNull(b) {
			return types.NullValue
		}
		return f(a, b)
	}
}

func nullVararg(f func(...ref.Val) ref.Val) func(...ref.Val) ref.Val {
	return func(args ...ref.Val) ref.Val {
		for _, a := range args {
			if isNull(a) {
				return types.NullValue
			}
		}
		return f(args...)
	}
}

// library returns every function the environment declares.
func library() []*fn {
	var all []*fn
	for _, part := range [][]*fn{operatorFuncs(), mathFuncs(), castFuncs(), logicFuncs(), nullFuncs(), stringFuncs(), timeFuncs()} {
		all = append(all, part...)
	}
	for _, c := range constArgFuncs() {
		all = append(all, c.fn())
	}
	return all
}

// errorf returns a CEL error value.
func errorf(format string, args ...any) ref.Val {
	return types.NewErr(format, args...)
}

// badArg is the error for an argument of an unexpected run time type,
// which only a dyn field can produce.
func badArg(name string, v ref.Val) ref.Val {
	return types.NewErr("%s: unsupported argument type %s", name, v.Type().TypeName())
}

// mixed2 returns the two signatures of a binary function over one int and
// one double.
func mixed2(result *cel.Type) []sig {
	return []sig{s(result, tInt, tDouble), s(result, tDouble, tInt)}
}

// valueTypes are the concrete types a generic function is declared for;
// CEL refuses a type parameter beside concrete overloads of one function.
func valueTypes() []*cel.Type {
	return []*cel.Type{tInt, tDouble, tString, tBool, tBytes, tTime, tListA, cel.MapType(tA, cel.TypeParamType("B"))}
}

// uniform returns, for each value type T, the signature taking n
// arguments of type T (after prefix) and returning result(T).
func uniform(n int, result func(*cel.Type) *cel.Type, prefix ...*cel.Type) []sig {
	var out []sig
	for _, t := range valueTypes() {
		out = append(out, repeat(n, n, result(t), t, prefix...)...)
	}
	return out
}

func same(t *cel.Type) *cel.Type { return t }
