package transform

import (
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// constArg is a function with a pattern argument (a regular expression or
// a datetime pattern) that is prepared once when it is a constant, as it
// nearly always is: at compile time, where a bad pattern is reported at its
// position, and in the program, which then skips the preparation per call.
type constArg struct {
	name  string
	index int    // position of the pattern argument
	def   string // pattern when the argument is omitted, if it may be
	sigs  []sig
	// prepare compiles a pattern; apply runs the function with it.
	prepare func(pattern string) (any, error)
	apply   func(prepared any, args []ref.Val) ref.Val
}

// constArgFuncs lists every function with a pattern argument.
func constArgFuncs() []constArg {
	return append(regexFuncs(), datetimeFuncs()...)
}

// fn returns the function, preparing a non-constant pattern on each call.
func (c constArg) fn() *fn {
	var defPrep any
	if c.def != "" {
		p, err := c.prepare(c.def)
		if err != nil {
			panic(fmt.Sprintf("transform: default pattern of %s: %v", c.name, err)) // a bug in this package
		}
		defPrep = p
	}
	return &fn{name: c.name, sigs: c.sigs, vararg: func(args ...ref.Val) ref.Val {
		if len(args) <= c.index {
			return c.apply(defPrep, args)
		}
		pat, ok := args[c.index].(types.String)
		if !ok {
			return badArg(c.name, args[c.index])
		}
		p, err := c.prepare(string(pat))
		if err != nil {
			return errorf("%s: %v", c.name, err)
		}
		return c.apply(p, args)
	}}
}

// optimization returns the planner optimization that prepares a constant
// pattern once per program.
func (c constArg) optimization() *interpreter.RegexOptimization {
	return &interpreter.RegexOptimization{
		Function:   c.name,
		RegexIndex: c.index,
		Factory: func(call interpreter.InterpretableCall, pattern string) (interpreter.InterpretableCall, error) {
			p, err := c.prepare(pattern)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			impl := nullVararg(func(args ...ref.Val) ref.Val { return c.apply(p, args) })
			return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), impl), nil
		},
	}
}
