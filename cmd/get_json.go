package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// The output of get and multi-get: JSON written by hand for the scalar
// values features mostly hold, and the table of -o table.

// appendGetJSON appends the JSON output of get (the first key's
// {"feature": value, ...}) or of multi-get ({"key": {...}, ...}), and a
// newline.
func appendGetJSON(buf []byte, keys, features []string, values [][]any, multi bool) ([]byte, error) {
	// Each feature's `"name":`, quoted once rather than once per key.
	names := make([][]byte, len(features))
	size := 0
	for i, f := range features {
		names[i] = append(appendJSONString(nil, f), ':')
		size += len(names[i]) + 24
	}
	var err error
	if !multi {
		if buf, err = appendFeatures(buf, features, names, values[0]); err != nil {
			return nil, err
		}
		return append(buf, '\n'), nil
	}
	if buf == nil {
		buf = make([]byte, 0, len(keys)*(size+16))
	}
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		if buf, err = appendFeatures(buf, features, names, values[i]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}', '\n'), nil
}

// appendFeatures appends {"feature": value, ...} in the order asked; names
// holds each feature's quoted name and colon.
func appendFeatures(buf []byte, features []string, names [][]byte, values []any) ([]byte, error) {
	buf = append(buf, '{')
	for i, name := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, name...)
		var err error
		if buf, err = appendJSONValue(buf, values[i]); err != nil {
			return nil, fmt.Errorf("feature %s: %w", features[i], err)
		}
	}
	return append(buf, '}'), nil
}

// appendJSONValue appends v as encoding/json marshals it, without its
// reflection for the scalar values features mostly hold.
func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return appendJSONFloat(buf, v, 64), nil
		}
	case float32:
		if f := float64(v); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return appendJSONFloat(buf, f, 32), nil
		}
	case string:
		return appendJSONString(buf, v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// appendJSONFloat appends a finite f as encoding/json does: the shortest
// representation that round-trips at bits precision, in exponent form
// below 1e-6 and from 1e21, with a one-digit negative exponent unpadded.
func appendJSONFloat(buf []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	buf = strconv.AppendFloat(buf, f, format, -1, bits)
	if format == 'e' {
		// e-09 becomes e-9
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

// appendJSONString appends s quoted as encoding/json does: printable
// ASCII other than the characters it escapes is copied as is, anything
// else goes through json.Marshal.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

func writeTable(w io.Writer, keys, features []string, values [][]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "KEY")
	for _, f := range features {
		fmt.Fprint(tw, "\t"+f)
	}
	fmt.Fprintln(tw)
	var line []byte
	for i, k := range keys {
		line = append(line[:0], k...)
		for _, v := range values[i] {
			line = append(line, '\t')
			var err error
			if line, err = appendJSONValue(line, v); err != nil {
				return err
			}
		}
		line = append(line, '\n')
		if _, err := tw.Write(line); err != nil {
			return err
		}
	}
	return tw.Flush()
}
