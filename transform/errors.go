package transform

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/feathrgo/feathr/internal/nearest"

	"cel.dev/cel-go/cel"
)

// Error is a problem with an expression, at a 1-based line and column
// within it (0 when unknown). Compile returns one or several, joined with
// errors.Join; find them with errors.As.
type Error struct {
	Line, Column int
	Msg          string
	// Hint, when set, suggests a fix, such as the CEL form of a Spark SQL
	// construct or the nearest known field name.
	Hint string
}

// Error returns "line:column: message (hint: …)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// Errors returns the *Error values in err, which Compile returned.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// The regular expressions of error messages, compiled on first use rather
// than at program start, which every feathr command pays for.
var (
	undeclaredRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^undeclared reference to '([^']+)'.*$`)
	})
	quotedNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`'([^' ]+)'`) })
)

// issueErrors converts CEL issues to Errors, naming fields and functions
// as a user wrote them and adding hints.
func (e *Env) issueErrors(expr string, iss *cel.Issues, calls map[string]bool) error {
	var errs []error
	for _, ce := range iss.Errors() {
		er := &Error{Msg: ce.Message}
		if loc := ce.Location; loc != nil && loc.Line() > 0 {
			er.Line, er.Column = loc.Line(), loc.Column()+1
		}
		if m := undeclaredRE().FindStringSubmatch(ce.Message); m != nil {
			name := m[1]
			if calls[name] {
				er.Msg = fmt.Sprintf("unknown function %q", name)
				er.Column = callColumn(expr, er.Line, er.Column, name)
				if near := nearest.Name(name, e.funcs); near != "" {
					er.Hint = fmt.Sprintf("did you mean %s?", near)
				}
			} else {
				er.Msg = fmt.Sprintf("unknown field %q", name)
				if near := nearest.Name(name, e.fieldNames()); near != "" {
					er.Hint = fmt.Sprintf("did you mean %s?", near)
				}
			}
		} else {
			er.Msg = quotedNameRE().ReplaceAllStringFunc(ce.Message, func(q string) string {
				return "'" + displayName(q[1:len(q)-1]) + "'"
			})
		}
		errs = append(errs, er)
	}
	if hint := sparkHints(expr); hint != "" && len(errs) > 0 {
		first := errs[0].(*Error)
		if first.Hint == "" {
			first.Hint = hint
		} else {
			first.Hint += "; " + hint
		}
	}
	return errors.Join(errs...)
}

func (e *Env) fieldNames() []string {
	names := make([]string, len(e.schema.Fields))
	for i, f := range e.schema.Fields {
		names[i] = f.Name
	}
	return names
}

// sparkHint is a Spark SQL construct CEL does not accept and its CEL form.
type sparkHint struct {
	re   *regexp.Regexp
	hint string
}

// sparkHintList is compiled on first use, not at program start.
var sparkHintList = sync.OnceValue(func() []sparkHint {
	return []sparkHint{
		{regexp.MustCompile(`(?i)\bis\s+not\s+null\b`), "write isnotnull(x) (or x != null) for x IS NOT NULL"},
		{regexp.MustCompile(`(?i)\bis\s+null\b`), "write isnull(x) (or x == null) for x IS NULL"},
		{regexp.MustCompile(`(?i)\bcase\s+when\b`), "write c ? a : b or if_else(c, a, b) for CASE WHEN"},
		{regexp.MustCompile(`(?i)\bif\s*\(`), "write c ? a : b or if_else(c, a, b) for IF(c, a, b)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(int|integer|smallint|tinyint)\b`), "write cast_int(x) for CAST(x AS INT)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(bigint|long)\b`), "write cast_long(x) for CAST(x AS BIGINT)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(float|real)\b`), "write cast_float(x) for CAST(x AS FLOAT)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(double|decimal)\b`), "write cast_double(x) for CAST(x AS DOUBLE)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(string|varchar)\b`), "write cast_string(x) for CAST(x AS STRING)"},
		{regexp.MustCompile(`(?i)\bcast\s*\(.*\bas\s+(boolean|bool)\b`), "write cast_bool(x) for CAST(x AS BOOLEAN)"},
		{regexp.MustCompile(`(?i)\bbetween\b`), "write x >= a && x <= b for x BETWEEN a AND b"},
		{regexp.MustCompile(`(?i)[\s)]and\s`), "write && (or and(a, b)) for AND"},
		{regexp.MustCompile(`(?i)[\s)]or\s`), "write || (or or(a, b)) for OR"},
		{regexp.MustCompile(`(?i)(^|[\s(])not\s`), "write !x (or not(x)) for NOT x"},
		{regexp.MustCompile(`<>`), "write != for <>"},
		{regexp.MustCompile(`(^|[^=!<>])=($|[^=])`), "write == to compare (= is Spark's equality)"},
		{regexp.MustCompile(`(?i)\sin\s*\(`), "write x in [a, b] for x IN (a, b)"},
		{regexp.MustCompile(`(?i)\s(r?like)\s`), "write rlike(s, regex) or s.matches(regex) for LIKE/RLIKE"},
		{regexp.MustCompile(`\b(NULL|TRUE|FALSE|Null|True|False)\b`), "write null, true and false in lower case"},
	}
})

// sparkHints returns the hints for the Spark SQL constructs in expr,
// outside string literals.
func sparkHints(expr string) string {
	code := stripStrings(expr)
	var hints []string
	seen := func(substr string) bool { return strings.Contains(strings.Join(hints, ";"), substr) }
	for _, h := range sparkHintList() {
		if !h.re.MatchString(code) ||
			(strings.HasSuffix(h.hint, "for NOT x") && seen("NOT NULL")) ||
			(strings.HasSuffix(h.hint, "for AND") && seen("BETWEEN")) ||
			(strings.HasSuffix(h.hint, "in lower case") && seen(" NULL")) {
			continue
		}
		hints = append(hints, h.hint)
	}
	return strings.Join(hints, "; ")
}

// stripStrings blanks out the contents of quoted string literals.
func stripStrings(expr string) string {
	b := []byte(expr)
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote != 0 && c == '\\':
			b[i] = ' '
			if i+1 < len(b) {
				i++
				b[i] = ' '
			}
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b[i] = ' '
		}
	}
	return string(b)
}

// callColumn moves a call's column from its '(' (where CEL places it) to
// the start of the function name.
func callColumn(expr string, line, col int, name string) int {
	lines := strings.Split(expr, "\n")
	if line < 1 || line > len(lines) {
		return col
	}
	r := []rune(lines[line-1])
	if col < 1 || col > len(r) || r[col-1] != '(' {
		return col
	}
	before := strings.TrimRight(string(r[:col-1]), " ")
	if !strings.HasSuffix(before, name) {
		return col
	}
	return len([]rune(before)) - len([]rune(name)) + 1
}
