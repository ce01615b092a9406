package transform

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"

	"github.com/feathrgo/feathr/feature"
)

// Compile parses and type-checks expr, a Feathr transform (a Spark SQL
// row-level expression, which is also CEL for the forms this package
// supports), against the schema and against out, the feature's declared
// type. An expression whose type can never convert to out, such as a
// string for INT32, is an error naming both types.
//
// The error is one or several *Error joined, with positions within expr.
func (e *Env) Compile(expr string, out feature.Type) (*Program, error) {
	if out < feature.Boolean || out > feature.DoubleVector {
		return nil, fmt.Errorf("transform: invalid feature type %v", out)
	}
	return e.compile(expr, out)
}

// compile is Compile, and CompileValue for out 0: no declared type.
func (e *Env) compile(expr string, out feature.Type) (*Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &Error{Msg: "empty expression"}
	}
	parsed, iss := e.cel.Parse(expr)
	if iss.Err() != nil {
		return nil, e.issueErrors(expr, iss, nil)
	}
	root := parsed.NativeRep().Expr()
	calls := map[string]bool{}
	walk(root, func(x ast.Expr) {
		if x.Kind() == ast.CallKind {
			calls[x.AsCall().FunctionName()] = true
		}
	})
	rewriteOperators(root)
	checked, iss := e.cel.Check(parsed)
	if iss.Err() != nil {
		return nil, e.issueErrors(expr, iss, calls)
	}
	native := checked.NativeRep()
	if out != 0 {
		if err := checkOutput(checked.OutputType(), out); err != nil {
			err.Line, err.Column = position(native, root.ID())
			return nil, err
		}
	}
	if err := e.checkPatterns(native); err != nil {
		return nil, err
	}
	p := &Program{expr: expr, out: out, fields: e.fieldsOf(root), result: recordType(checked.OutputType())}
	if root.Kind() == ast.IdentKind {
		if _, ok := e.schema.Field(root.AsIdent()); ok {
			p.field = root.AsIdent()
			return p, nil
		}
	}
	prg, err := e.cel.Program(checked, e.progOpts...)
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	p.prg, p.adapt = prg, e.cel.CELTypeAdapter()
	p.fast, p.env = e.fastForm(native, native.Expr()), e
	return p, nil
}

// walk calls f for x and every expression below it, parents first.
func walk(x ast.Expr, f func(ast.Expr)) {
	f(x)
	switch x.Kind() {
	case ast.CallKind:
		c := x.AsCall()
		if c.IsMemberFunction() {
			walk(c.Target(), f)
		}
		for _, a := range c.Args() {
			walk(a, f)
		}
	case ast.ListKind:
		for _, el := range x.AsList().Elements() {
			walk(el, f)
		}
	case ast.MapKind:
		for _, en := range x.AsMap().Entries() {
			walk(en.AsMapEntry().Key(), f)
			walk(en.AsMapEntry().Value(), f)
		}
	case ast.SelectKind:
		walk(x.AsSelect().Operand(), f)
	case ast.StructKind:
		for _, fl := range x.AsStruct().Fields() {
			walk(fl.AsStructField().Value(), f)
		}
	case ast.ComprehensionKind:
		c := x.AsComprehension()
		for _, y := range []ast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			walk(y, f)
		}
	}
}

// rewriteOperators replaces, in place, the operators the CEL interpreter
// evaluates itself with this package's functions of Spark semantics:
// == and != (null if a side is null), &&, || and ! (three-valued) and
// c ? a : b (a null condition selects b). x == null and x != null become
// isnull(x) and isnotnull(x). Expression ids, and so positions, are kept.
func rewriteOperators(root ast.Expr) {
	fac := ast.NewExprFactory()
	walk(root, func(x ast.Expr) {
		if x.Kind() != ast.CallKind {
			return
		}
		c := x.AsCall()
		name := rewrite(c.FunctionName())
		if name == "" || c.IsMemberFunction() {
			return
		}
		args := c.Args()
		if (name == eqFn || name == neFn) && len(args) == 2 {
			for i, a := range args {
				if isNullLiteral(a) {
					fn := "isnull"
					if name == neFn {
						fn = "isnotnull"
					}
					x.SetKindCase(fac.NewCall(x.ID(), fn, args[1-i]))
					return
				}
			}
		}
		x.SetKindCase(fac.NewCall(x.ID(), name, args...))
	})
}

func isNullLiteral(x ast.Expr) bool {
	return x.Kind() == ast.LiteralKind && x.AsLiteral() == types.NullValue
}

// position returns the 1-based line and column of an expression.
func position(a *ast.AST, id int64) (int, int) {
	loc := a.SourceInfo().GetStartLocation(id)
	if loc.Line() <= 0 {
		return 0, 0
	}
	return loc.Line(), loc.Column() + 1
}

// fieldsOf returns the schema fields x reads, in order of first use.
func (e *Env) fieldsOf(x ast.Expr) []string {
	var out []string
	seen := map[string]bool{}
	walk(x, func(y ast.Expr) {
		if y.Kind() != ast.IdentKind {
			return
		}
		name := y.AsIdent()
		if _, ok := e.schema.Field(name); ok && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	})
	return out
}

// checkPatterns prepares the constant patterns of regular expression and
// datetime functions, reporting a bad one at its position.
func (e *Env) checkPatterns(a *ast.AST) error {
	var errs []error
	walk(a.Expr(), func(x ast.Expr) {
		if x.Kind() != ast.CallKind {
			return
		}
		c := x.AsCall()
		ca, ok := e.constArgs[c.FunctionName()]
		args := c.Args()
		if c.IsMemberFunction() {
			args = append([]ast.Expr{c.Target()}, args...)
		}
		if !ok || ca.index >= len(args) || args[ca.index].Kind() != ast.LiteralKind {
			return
		}
		pat, ok := args[ca.index].AsLiteral().(types.String)
		if !ok {
			return
		}
		if _, err := ca.prepare(string(pat)); err != nil {
			er := &Error{Msg: fmt.Sprintf("%s: %v", ca.name, err)}
			er.Line, er.Column = position(a, args[ca.index].ID())
			errs = append(errs, er)
		}
	})
	return errors.Join(errs...)
}

// checkOutput reports an expression type that can never convert to the
// declared feature type (see feature.Convert).
func checkOutput(t *cel.Type, out feature.Type) *Error {
	switch t.Kind() {
	case types.DynKind, types.AnyKind, types.NullTypeKind, types.TypeParamKind, types.ErrorKind:
		return nil
	}
	ok := false
	hint := ""
	switch t.Kind() {
	case types.BoolKind:
		ok = out == feature.Boolean
		hint = "convert it with if_else(c, 1, 0)"
	case types.IntKind, types.UintKind, types.DoubleKind:
		switch out {
		case feature.Int32, feature.Int64, feature.Float, feature.Double:
			ok = true
		case feature.Boolean:
			hint = "compare it, e.g. x != 0"
		case feature.String:
			hint = "convert it with cast_string(x)"
		}
	case types.StringKind:
		ok = out == feature.String || out == feature.Bytes
		switch out {
		case feature.Int32, feature.Int64:
			hint = "parse it with cast_int(x) or cast_long(x)"
		case feature.Float, feature.Double:
			hint = "parse it with cast_double(x)"
		case feature.Boolean:
			hint = "parse it with cast_bool(x)"
		}
	case types.BytesKind:
		ok = out == feature.Bytes
	case types.TimestampKind:
		switch out {
		case feature.Int64, feature.Int32:
			hint = "convert it with to_unix_timestamp(ts) or unix_millis(ts)"
		case feature.String:
			hint = "format it with date_format(ts, 'yyyy-MM-dd HH:mm:ss')"
		}
	case types.ListKind:
		if out.IsVector() && len(t.Parameters()) == 1 {
			switch t.Parameters()[0].Kind() {
			case types.IntKind, types.UintKind, types.DoubleKind, types.DynKind, types.AnyKind, types.TypeParamKind:
				ok = true
			}
		}
	}
	if ok {
		return nil
	}
	return &Error{Msg: fmt.Sprintf("expression of type %s cannot be stored as %s", t, out), Hint: hint}
}
