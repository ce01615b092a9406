package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s with values from
// lookupEnv (as in a shell, the default also replaces an empty value) and $$ with a single $. A $ followed by anything else is kept
// as is, so "$ConnectionString" stays literal. The returned errors never
// contain a value, only variable names.
func expand(s string, lookupEnv func(string) (string, bool)) (string, []error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var (
		b    strings.Builder
		errs []error
	)
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), errs
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, fmt.Errorf(`unterminated "${": write "}" after the variable name, or "$$" for a literal "$"`))
			return b.String(), errs
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			errs = append(errs, fmt.Errorf(`invalid variable name in "${...}": want letters, digits and underscores, not starting with a digit`))
			continue
		}
		if v, ok := lookupEnv(name); ok && (v != "" || !hasDef) {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			errs = append(errs, fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name))
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
