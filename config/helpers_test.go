package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// env returns a lookupEnv over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parseErrs parses src (tabs in src are not allowed by YAML: write spaces)
// and returns its errors.
func parseErrs(t *testing.T, src string, vars map[string]string) (*File, Errors) {
	t.Helper()
	f, err := Parse("test.yaml", []byte(src), env(vars))
	if f == nil {
		t.Fatalf("Parse returned a nil File")
	}
	if err == nil {
		return f, nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T, not Errors: %v", err, err)
	}
	return f, errs
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string, vars map[string]string) *File {
	t.Helper()
	f, errs := parseErrs(t, src, vars)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	return f
}

// yamlText dedents a raw string literal: it drops the first line break
// and the indentation (tabs or spaces) of the first line from every line.
func yamlText(s string) string {
	s = strings.TrimPrefix(s, "\n")
	indent := s[:len(s)-len(strings.TrimLeft(s, " \t"))]
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		line = strings.TrimPrefix(line, indent)
		if strings.TrimLeft(line, " \t") == "" { // the closing line
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// replaceOnce replaces the one old in s with new.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q is not in the text once", old)
	}
	return strings.Replace(s, old, new, 1)
}
