package decode

import (
	"encoding/json"
	"fmt"
)

// maxSchemaDepth bounds the nesting of a schema document, which may come
// from a registry and so is not fully trusted.
const maxSchemaDepth = 256

// jnode is a JSON value of a schema document with the byte offset where it
// starts, so that schema errors can point at the offending text.
type jnode struct {
	off  int
	kind byte // 'n' null, 'b' bool, 'f' number, 's' string, 'a' array, 'o' object
	b    bool
	s    string // string, or a number's literal text
	arr  []*jnode
	keys []string // object keys, in order
	vals []*jnode // object values, parallel to keys
}

// get returns the value of an object member, or nil.
func (n *jnode) get(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// parseJSONTree parses a complete JSON document, rejecting trailing data.
// Errors are *SchemaError with the offset of the offending byte.
func parseJSONTree(s string) (*jnode, error) {
	p := jparser{s: s}
	p.space()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, p.errf("invalid character %q after top-level value", p.s[p.i])
	}
	return n, nil
}

type jparser struct {
	s string
	i int
}

func (p *jparser) errf(format string, args ...any) *SchemaError {
	return schemaErrorf(p.i, format, args...)
}

func (p *jparser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jparser) value(depth int) (*jnode, error) {
	if depth > maxSchemaDepth {
		return nil, p.errf("nesting deeper than %d", maxSchemaDepth)
	}
	if p.i >= len(p.s) {
		return nil, p.errf("unexpected end of JSON input")
	}
	n := &jnode{off: p.i}
	switch c := p.s[p.i]; {
	case c == '{':
		n.kind = 'o'
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return n, nil
		}
		for {
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return nil, p.expected("string for object key")
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, p.expected("':' after object key")
			}
			p.i++
			p.space()
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.vals = append(n.vals, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return n, nil
			}
			return nil, p.expected("',' or '}' after object value")
		}
	case c == '[':
		n.kind = 'a'
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return n, nil
		}
		for {
			p.space()
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return n, nil
			}
			return nil, p.expected("',' or ']' after array element")
		}
	case c == '"':
		n.kind = 's'
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		n.s = s
		return n, nil
	case c == '-' || (c >= '0' && c <= '9'):
		n.kind = 'f'
		return n, p.number(n)
	default:
		for _, lit := range [...]string{"null", "true", "false"} {
			if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
				p.i += len(lit)
				switch lit {
				case "null":
					n.kind = 'n'
				default:
					n.kind, n.b = 'b', lit == "true"
				}
				return n, nil
			}
		}
		return nil, p.expected("value")
	}
}

func (p *jparser) expected(what string) *SchemaError {
	if p.i >= len(p.s) {
		return p.errf("unexpected end of JSON input, expecting %s", what)
	}
	return p.errf("invalid character %q, expecting %s", p.s[p.i], what)
}

// str parses a string literal starting at p.i; encoding/json decodes the
// literal so escapes follow the JSON rules exactly.
func (p *jparser) str() (string, error) {
	start := p.i
	p.i++ // opening quote
	plain := true
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			lit := p.s[start:p.i]
			if plain {
				return lit[1 : len(lit)-1], nil
			}
			var out string
			if err := json.Unmarshal([]byte(lit), &out); err != nil {
				return "", schemaErrorf(start, "invalid string literal: %v", err)
			}
			return out, nil
		case c == '\\':
			plain = false
			p.i += 2
		case c < 0x20:
			return "", p.errf("invalid control character %q in string literal", c)
		default:
			if c >= 0x80 {
				plain = false // let encoding/json validate UTF-8
			}
			p.i++
		}
	}
	p.i = len(p.s)
	return "", p.errf("unexpected end of JSON input in string literal")
}

// number scans a JSON number per the grammar and keeps its literal text.
func (p *jparser) number(n *jnode) error {
	start := p.i
	digits := func() int {
		d := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			d++
		}
		return d
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return p.expected("digit in number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.expected("digit after decimal point")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.expected("digit in exponent")
		}
	}
	n.s = p.s[start:p.i]
	return nil
}

// describe names a node's JSON kind for error messages.
func (n *jnode) describe() string {
	switch n.kind {
	case 'n':
		return "null"
	case 'b':
		return "boolean"
	case 'f':
		return "number " + n.s
	case 's':
		return fmt.Sprintf("string %q", n.s)
	case 'a':
		return "array"
	default:
		return "object"
	}
}
