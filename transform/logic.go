package transform

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// logicFuncs are Spark's three-valued and, or and not, and if_else. The
// operators &&, || and ! and the conditional c ? a : b compile to them.
func logicFuncs() []*fn {
	ifElse := func(promote bool) func(...ref.Val) ref.Val {
		return func(args ...ref.Val) ref.Val {
			r := args[2]
			if args[0] == types.True {
				r = args[1]
			} else if _, ok := args[0].(types.Bool); !ok && !isNull(args[0]) {
				return badArg("if_else", args[0])
			}
			if i, ok := r.(types.Int); ok && promote {
				return types.Double(i)
			}
			return r
		}
	}
	ifSigs := uniform(2, same, tBool)
	for _, t := range valueTypes() {
		ifSigs = append(ifSigs, s(t, tBool, t, tNull), s(t, tBool, tNull, t))
	}
	for _, sg := range [][2]*cel.Type{{tInt, tDouble}, {tDouble, tInt}} {
		ifSigs = append(ifSigs, sig{args: []*cel.Type{tBool, sg[0], sg[1]}, result: tDouble, impl: ifElse(true)})
	}
	return []*fn{
		{name: "and", sigs: []sig{s(tBool, tBool, tBool)}, nullable: true, binary: and},
		{name: "or", sigs: []sig{s(tBool, tBool, tBool)}, nullable: true, binary: or},
		{name: "not", sigs: []sig{s(tBool, tBool)}, unary: func(v ref.Val) ref.Val {
			b, ok := v.(types.Bool)
			if !ok {
				return badArg("not", v)
			}
			return !b
		}},
		// A null condition selects the else branch, as in Spark.
		{name: "if_else", sigs: ifSigs, nullable: true, vararg: ifElse(false)},
	}
}

// and is Spark's AND: false if either side is false, else null if either
// is null, else true.
func and(a, b ref.Val) ref.Val {
	if a == types.False || b == types.False {
		return types.False
	}
	if isNull(a) || isNull(b) {
		return types.NullValue
	}
	if a != types.True {
		return badArg("and", a)
	}
	if b != types.True {
		return badArg("and", b)
	}
	return types.True
}

// or is Spark's OR: true if either side is true, else null if either is
// null, else false.
func or(a, b ref.Val) ref.Val {
	if a == types.True || b == types.True {
		return types.True
	}
	if isNull(a) || isNull(b) {
		return types.NullValue
	}
	if a != types.False {
		return badArg("or", a)
	}
	if b != types.False {
		return badArg("or", b)
	}
	return types.False
}

// nullFuncs handle null arguments: coalesce, nvl, ifnull, nullif, isnull,
// isnotnull.
func nullFuncs() []*fn {
	first := func(args ...ref.Val) ref.Val {
		for _, a := range args {
			if !isNull(a) {
				return a
			}
		}
		return types.NullValue
	}
	nvl := func(a, b ref.Val) ref.Val {
		if isNull(a) {
			return b
		}
		return a
	}
	return []*fn{
		{name: "coalesce", sigs: repeat(1, maxVarargs, tA, tA), nullable: true, vararg: first, unary: func(v ref.Val) ref.Val { return v }, binary: nvl},
		{name: "nvl", sigs: []sig{s(tA, tA, tA)}, nullable: true, binary: nvl},
		{name: "ifnull", sigs: []sig{s(tA, tA, tA)}, nullable: true, binary: nvl},
		{name: "nullif", sigs: []sig{s(tA, tA, tA)}, nullable: true, binary: func(a, b ref.Val) ref.Val {
			if equal(a, b, false) == types.True {
				return types.NullValue
			}
			return a
		}},
		{name: "isnull", sigs: []sig{s(tBool, tA)}, nullable: true, unary: func(v ref.Val) ref.Val { return types.Bool(isNull(v)) }},
		{name: "isnotnull", sigs: []sig{s(tBool, tA)}, nullable: true, unary: func(v ref.Val) ref.Val { return types.Bool(!isNull(v)) }},
	}
}
