package transform

import (
	"fmt"
	"sort"

	"cel.dev/cel-go/cel"
	celenv "cel.dev/cel-go/common/env"
	"cel.dev/cel-go/interpreter"

	"github.com/feathrgo/feathr/record"
)

// Env compiles expressions over the fields of one source schema. It is
// safe for concurrent use.
type Env struct {
	schema    record.Schema
	cel       *cel.Env
	funcs     []string            // declared function names, for suggestions
	constArgs map[string]constArg // functions with a pattern argument
	progOpts  []cel.ProgramOption
	lib       map[string]*fn // the library by name, for the fast path
}

// NewEnv returns an environment whose expressions read the top-level fields
// of schema, each declared with the CEL type of its kind (int for Avro int
// and long, double for float and double, timestamp for timestamp logical
// types, list and map, dyn for any).
func NewEnv(schema record.Schema) (*Env, error) {
	// Keep only these CEL standard functions; the operators and the rest
	// come from this package, with Spark's semantics.
	var include []*celenv.Function
	for _, name := range []string{"_[_]", "@in", "int", "double", "string", "bytes", "bool", "dyn", "timestamp", "duration", "type"} {
		include = append(include, &celenv.Function{Name: name})
	}
	opts := []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(&celenv.LibrarySubset{DisableMacros: true, IncludeFunctions: include})),
		cel.ClearMacros(),
		cel.DefaultUTCTimeZone(true),
	}
	for _, f := range schema.Fields {
		opts = append(opts, cel.Variable(f.Name, celType(f.Type)))
	}
	e := &Env{schema: schema, constArgs: map[string]constArg{}, lib: map[string]*fn{}}
	for _, f := range library() {
		e.lib[f.name] = f
		d, err := f.decl()
		if err != nil {
			return nil, fmt.Errorf("transform: %w", err)
		}
		opts = append(opts, cel.FunctionDecls(d))
		if f.name[0] != '@' && f.name[0] != '_' && f.name[0] != '-' && f.name[0] != '!' {
			e.funcs = append(e.funcs, f.name)
		}
	}
	sort.Strings(e.funcs)
	var optims []*interpreter.RegexOptimization
	for _, c := range constArgFuncs() {
		e.constArgs[c.name] = c
		optims = append(optims, c.optimization())
	}
	e.progOpts = []cel.ProgramOption{cel.OptimizeRegex(optims...)}
	ce, err := cel.NewCustomEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("transform: new environment: %w", err)
	}
	e.cel = ce
	return e, nil
}

// Schema returns the schema the environment was built for.
func (e *Env) Schema() record.Schema { return e.schema }

// Functions returns the names of the functions expressions may call, sorted.
func (e *Env) Functions() []string { return append([]string(nil), e.funcs...) }

// celType returns the CEL type of a field.
func celType(t record.Type) *cel.Type {
	elem := func() *cel.Type {
		if t.Elem == nil {
			return cel.DynType
		}
		return celType(*t.Elem)
	}
	switch t.Kind {
	case record.Bool:
		return cel.BoolType
	case record.Int:
		return cel.IntType
	case record.Float:
		return cel.DoubleType
	case record.String:
		return cel.StringType
	case record.Bytes:
		return cel.BytesType
	case record.Timestamp:
		return cel.TimestampType
	case record.Array:
		return cel.ListType(elem())
	case record.Map:
		return cel.MapType(cel.StringType, elem())
	}
	return cel.DynType
}
