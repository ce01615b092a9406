package transform

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

func stringFuncs() []*fn {
	str1 := func(name string, f func(string) string) *fn {
		return &fn{name: name, sigs: []sig{s(tString, tString)}, unary: func(v ref.Val) ref.Val {
			x, ok := v.(types.String)
			if !ok {
				return badArg(name, v)
			}
			return types.String(f(string(x)))
		}}
	}
	str2 := func(name string, member bool, f func(a, b string) ref.Val) *fn {
		sg := s(tBool, tString, tString)
		sg.member = member
		return &fn{name: name, sigs: []sig{sg}, binary: func(a, b ref.Val) ref.Val {
			x, ok1 := a.(types.String)
			y, ok2 := b.(types.String)
			if !ok1 || !ok2 {
				return badArg(name, a)
			}
			return f(string(x), string(y))
		}}
	}
	startsWith := func(a, b string) ref.Val { return types.Bool(strings.HasPrefix(a, b)) }
	endsWith := func(a, b string) ref.Val { return types.Bool(strings.HasSuffix(a, b)) }
	contains := func(a, b string) ref.Val { return types.Bool(strings.Contains(a, b)) }
	trimSpaces := func(s string) string { return strings.Trim(s, " ") }
	length := func(v ref.Val) ref.Val {
		switch x := v.(type) {
		case types.String:
			return types.Int(utf8.RuneCountInString(string(x)))
		case types.Bytes:
			return types.Int(len(x))
		}
		return badArg("length", v)
	}
	size := func(v ref.Val) ref.Val {
		if sz, ok := v.(traits.Sizer); ok {
			return sz.Size()
		}
		return badArg("size", v)
	}
	sizeSigs := []sig{s(tInt, tString), s(tInt, tBytes), s(tInt, tListA), s(tInt, cel.MapType(tA, cel.TypeParamType("B"))),
		m(tInt, tString), m(tInt, tBytes), m(tInt, tListA), m(tInt, cel.MapType(tA, cel.TypeParamType("B")))}
	containsFn := str2("contains", false, contains)
	containsFn.sigs = append(containsFn.sigs, m(tBool, tString, tString))
	out := []*fn{
		str1("lower", strings.ToLower), str1("lcase", strings.ToLower),
		str1("upper", strings.ToUpper), str1("ucase", strings.ToUpper),
		str1("trim", trimSpaces),
		str1("ltrim", func(s string) string { return strings.TrimLeft(s, " ") }),
		str1("rtrim", func(s string) string { return strings.TrimRight(s, " ") }),
		str1("reverse", reverse),
		str2("startswith", false, startsWith), str2("startsWith", true, startsWith),
		str2("endswith", false, endsWith), str2("endsWith", true, endsWith),
		containsFn,
		{name: "length", sigs: []sig{s(tInt, tString), s(tInt, tBytes)}, unary: length},
		{name: "char_length", sigs: []sig{s(tInt, tString), s(tInt, tBytes)}, unary: length},
		{name: "size", sigs: sizeSigs, unary: size},
		{name: "concat", sigs: repeat(1, maxVarargs, tString, tString), vararg: concat, unary: func(v ref.Val) ref.Val { return v }},
		{name: "concat_ws", sigs: append(repeat(1, maxVarargs, tString, tString, tString), s(tString, tString, tListS)), nullable: true, vararg: concatWS},
		{name: "substring", sigs: []sig{s(tString, tString, tInt), s(tString, tString, tInt, tInt)}, vararg: substring},
		{name: "substr", sigs: []sig{s(tString, tString, tInt), s(tString, tString, tInt, tInt)}, vararg: substring},
		{name: "instr", sigs: []sig{s(tInt, tString, tString)}, binary: func(a, b ref.Val) ref.Val {
			x, y := string(a.(types.String)), string(b.(types.String))
			i := strings.Index(x, y)
			if i < 0 {
				return types.Int(0)
			}
			return types.Int(utf8.RuneCountInString(x[:i]) + 1)
		}},
		{name: "replace", sigs: []sig{s(tString, tString, tString), s(tString, tString, tString, tString)}, vararg: func(args ...ref.Val) ref.Val {
			rep := ""
			if len(args) == 3 {
				rep = string(args[2].(types.String))
			}
			return types.String(strings.ReplaceAll(string(args[0].(types.String)), string(args[1].(types.String)), rep))
		}},
		{name: "lpad", sigs: []sig{s(tString, tString, tInt), s(tString, tString, tInt, tString)}, vararg: func(args ...ref.Val) ref.Val { return pad(true, args) }},
		{name: "rpad", sigs: []sig{s(tString, tString, tInt), s(tString, tString, tInt, tString)}, vararg: func(args ...ref.Val) ref.Val { return pad(false, args) }},
		{name: "repeat", sigs: []sig{s(tString, tString, tInt)}, binary: func(a, b ref.Val) ref.Val {
			n := int(b.(types.Int))
			if n <= 0 {
				return types.String("")
			}
			if x := string(a.(types.String)); len(x)*n <= 1<<20 {
				return types.String(strings.Repeat(x, n))
			}
			return errorf("repeat: result longer than 1 MiB")
		}},
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func concat(args ...ref.Val) ref.Val {
	var b strings.Builder
	for _, a := range args {
		x, ok := a.(types.String)
		if !ok {
			return badArg("concat", a)
		}
		b.WriteString(string(x))
	}
	return types.String(b.String())
}

// concatWS is Spark's concat_ws: null only if the separator is; null
// strings are skipped, lists are flattened.
func concatWS(args ...ref.Val) ref.Val {
	sep, ok := args[0].(types.String)
	if !ok {
		if isNull(args[0]) {
			return types.NullValue
		}
		return badArg("concat_ws", args[0])
	}
	var parts []string
	add := func(v ref.Val) ref.Val {
		switch x := v.(type) {
		case types.Null:
		case types.String:
			parts = append(parts, string(x))
		default:
			return badArg("concat_ws", v)
		}
		return nil
	}
	for _, a := range args[1:] {
		if l, ok := a.(traits.Lister); ok {
			n := int64(l.Size().(types.Int))
			for i := range n {
				if err := add(l.Get(types.Int(i))); err != nil {
					return err
				}
			}
			continue
		}
		if err := add(a); err != nil {
			return err
		}
	}
	return types.String(strings.Join(parts, string(sep)))
}

// substring is Spark's substring(str, pos[, len]): pos is 1-based, 0 acts
// as 1, a negative pos counts from the end; characters, not bytes.
func substring(args ...ref.Val) ref.Val {
	str, ok := args[0].(types.String)
	if !ok {
		return badArg("substring", args[0])
	}
	pos := int64(args[1].(types.Int))
	length := int64(1 << 62)
	if len(args) == 3 {
		length = int64(args[2].(types.Int))
	}
	r := []rune(string(str))
	n := int64(len(r))
	var start int64
	switch {
	case pos > 0:
		start = pos - 1
	case pos < 0:
		start = n + pos
	}
	end := start + length
	if length > 1<<62-start {
		end = 1 << 62
	}
	start = max(start, 0)
	end = min(end, n)
	if start >= end {
		return types.String("")
	}
	return types.String(string(r[start:end]))
}

// pad is Spark's lpad and rpad: the result has exactly length characters,
// the string truncated if longer.
func pad(left bool, args []ref.Val) ref.Val {
	r := []rune(string(args[0].(types.String)))
	n := int(args[1].(types.Int))
	p := []rune(" ")
	if len(args) == 3 {
		p = []rune(string(args[2].(types.String)))
	}
	if n <= 0 {
		return types.String("")
	}
	if n > 1<<20 {
		return errorf("pad: length %d too long", n)
	}
	if len(r) >= n {
		return types.String(string(r[:n]))
	}
	if len(p) == 0 {
		return types.String(string(r))
	}
	need := n - len(r)
	fill := make([]rune, 0, need)
	for len(fill) < need {
		for _, c := range p {
			if len(fill) == need {
				break
			}
			fill = append(fill, c)
		}
	}
	if left {
		return types.String(string(fill) + string(r))
	}
	return types.String(string(r) + string(fill))
}

// javaReplacement translates a Java regex replacement ($1, \$) to Go's
// (${1}, $$).
func javaReplacement(rep string) string {
	var b strings.Builder
	for i := 0; i < len(rep); i++ {
		c := rep[i]
		switch {
		case c == '\\' && i+1 < len(rep):
			i++
			if rep[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(rep[i])
			}
		case c == '$' && i+1 < len(rep) && rep[i+1] >= '0' && rep[i+1] <= '9':
			j := i + 1
			for j < len(rep) && rep[j] >= '0' && rep[j] <= '9' {
				j++
			}
			b.WriteString("${" + rep[i+1:j] + "}")
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// regexFuncs are the functions with a regular expression argument.
func regexFuncs() []constArg {
	compile := func(p string) (any, error) { return regexp.Compile(p) }
	return []constArg{
		{name: "rlike", index: 1, prepare: compile,
			sigs: []sig{s(tBool, tString, tString)},
			apply: func(p any, args []ref.Val) ref.Val {
				return types.Bool(p.(*regexp.Regexp).MatchString(string(args[0].(types.String))))
			}},
		{name: "matches", index: 1, prepare: compile,
			sigs: []sig{m(tBool, tString, tString), s(tBool, tString, tString)},
			apply: func(p any, args []ref.Val) ref.Val {
				return types.Bool(p.(*regexp.Regexp).MatchString(string(args[0].(types.String))))
			}},
		{name: "split", index: 1, prepare: compile,
			sigs: []sig{s(tListS, tString, tString), s(tListS, tString, tString, tInt)},
			apply: func(p any, args []ref.Val) ref.Val {
				limit := -1
				if len(args) == 3 && args[2].(types.Int) > 0 {
					limit = int(args[2].(types.Int))
				}
				parts := p.(*regexp.Regexp).Split(string(args[0].(types.String)), limit)
				return types.NewStringList(types.DefaultTypeAdapter, parts)
			}},
		{name: "regexp_extract", index: 1, prepare: compile,
			sigs: []sig{s(tString, tString, tString), s(tString, tString, tString, tInt)},
			apply: func(p any, args []ref.Val) ref.Val {
				re := p.(*regexp.Regexp)
				idx := 1
				if len(args) == 3 {
					idx = int(args[2].(types.Int))
				}
				if idx < 0 || idx > re.NumSubexp() {
					return errorf("regexp_extract: regex group count is %d, but the specified group index is %d", re.NumSubexp(), idx)
				}
				m := re.FindStringSubmatchIndex(string(args[0].(types.String)))
				if m == nil || m[2*idx] < 0 {
					return types.String("")
				}
				return types.String(string(args[0].(types.String))[m[2*idx]:m[2*idx+1]])
			}},
		{name: "regexp_replace", index: 1, prepare: compile,
			sigs: []sig{s(tString, tString, tString, tString)},
			apply: func(p any, args []ref.Val) ref.Val {
				rep := javaReplacement(string(args[2].(types.String)))
				return types.String(p.(*regexp.Regexp).ReplaceAllString(string(args[0].(types.String)), rep))
			}},
	}
}
