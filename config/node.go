package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/feathrgo/feathr/internal/nearest"

	"go.yaml.in/yaml/v3"
)

// maxAliasDepth bounds how many aliases and merge keys are followed in a
// row, so that a file cannot make the parser loop.
const maxAliasDepth = 32

// maxWork bounds how many entries and list items the parser reads in all,
// counting those reached through aliases each time: a small file cannot
// make it work for long ("billion laughs").
const maxWork = 1 << 20

// spend counts n units of work and reports whether the budget allows them.
func (p *parser) spend(n int, pos Pos) bool {
	p.work += n
	if p.work <= maxWork {
		return true
	}
	if !p.overBudget {
		p.overBudget = true
		p.errorf(pos, "the file is too large or its aliases expand too much")
	}
	return false
}

// ctx names the value being decoded in messages: the thing it belongs to
// (`source "s"`) and the path of fields inside it (`kafka.security`).
type ctx struct {
	thing, path string
}

func (c ctx) field(name string) ctx {
	if c.path == "" {
		c.path = name
	} else {
		c.path += "." + name
	}
	return c
}

func (c ctx) String() string {
	switch {
	case c.thing == "":
		return c.path
	case c.path == "":
		return c.thing
	}
	return c.thing + ": " + c.path
}

// entry is one key and value of a mapping. The value has its aliases
// resolved; it is nil for an alias that cannot be resolved.
type entry struct {
	key, val *yaml.Node
	ctx      ctx
}

func (e *entry) keyPos() Pos { return nodePos(e.key) }

// valPos is the position of the value, or of the key if there is none.
func (e *entry) valPos() Pos {
	if e.val == nil || e.val.Line == 0 {
		return e.keyPos()
	}
	return nodePos(e.val)
}

// present reports whether e holds a value other than null.
func (e *entry) present() bool { return e != nil && !isNull(e.val) }

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "value"
}

// pairs returns the entries of the mapping n, following merge keys (<<).
// It reports a value that is not a mapping and a duplicate key, naming
// the key with noun ("field", "source", ...); a duplicate is dropped.
func (p *parser) pairs(n *yaml.Node, c ctx, noun string) []entry {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(nodePos(n), "%s: want a mapping, got a %s", c, kindName(n))
		return nil
	}
	var out, merged []entry
	seen := make(map[string]*yaml.Node)
	p.collect(n, c, noun, seen, &out, &merged, 0)
	for _, e := range merged {
		if _, dup := seen[e.key.Value]; !dup {
			seen[e.key.Value] = e.key
			out = append(out, e)
		}
	}
	return out
}

func (p *parser) collect(n *yaml.Node, c ctx, noun string, seen map[string]*yaml.Node, out, merged *[]entry, depth int) {
	if !p.spend(len(n.Content)/2+1, nodePos(n)) {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			p.merge(v, c, noun, merged, depth+1)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(nodePos(k), "%s: a %s name must be a string, not a %s", c, noun, kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(nodePos(k), "%s: duplicate %s %q (first at line %d)", c, noun, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		*out = append(*out, entry{key: k, val: resolve(v), ctx: c.field(k.Value)})
	}
}

// merge adds the entries of a merge key's value (a mapping or a list of
// mappings) to merged, earlier ones first.
func (p *parser) merge(v *yaml.Node, c ctx, noun string, merged *[]entry, depth int) {
	v = resolve(v)
	if v == nil || depth > maxAliasDepth {
		return
	}
	switch v.Kind {
	case yaml.MappingNode:
		var out, inner []entry
		seen := make(map[string]*yaml.Node)
		p.collect(v, c, noun, seen, &out, &inner, depth)
		*merged = append(*merged, out...)
		*merged = append(*merged, inner...)
	case yaml.SequenceNode:
		for _, m := range v.Content {
			p.merge(m, c, noun, merged, depth+1)
		}
	default:
		p.errorf(nodePos(v), "%s: a merge key (<<) needs a mapping or a list of mappings, got a %s", c, kindName(v))
	}
}

// fields is the decoded mapping of a struct-like value: field name to entry.
type fields map[string]*entry

// object decodes n as a mapping whose keys must be among names. It
// returns nil if n is neither a mapping nor null.
func (p *parser) object(n *yaml.Node, c ctx, names ...string) fields {
	if n = resolve(n); !isNull(n) && n.Kind != yaml.MappingNode {
		p.errorf(nodePos(n), "%s: want a mapping, got a %s", c, kindName(n))
		return nil
	}
	f := make(fields)
	for _, e := range p.pairs(n, c, "field") {
		if !slices.Contains(names, e.key.Value) {
			p.errorf(e.keyPos(), "%s: unknown field %q%s (allowed: %s)",
				c, e.key.Value, suggest(e.key.Value, names), strings.Join(names, ", "))
			continue
		}
		f[e.key.Value] = &e
	}
	return f
}

// suggest returns `; did you mean "x"?` for the name closest to s, if any
// is close enough.
func suggest(s string, names []string) string {
	best := nearest.Name(s, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// scalar returns the expanded text of a scalar value. ok is false if e is
// absent or null, or if the value is not a scalar or cannot be expanded
// (both reported).
func (p *parser) scalar(e *entry) (s string, ok bool) {
	if !e.present() {
		return "", false
	}
	if e.val.Kind != yaml.ScalarNode {
		p.errorf(e.valPos(), "%s: want a single value, got a %s", e.ctx, kindName(e.val))
		return "", false
	}
	return p.expand(e.val, e.ctx)
}

func (p *parser) expand(n *yaml.Node, c ctx) (string, bool) {
	s, errs := expand(n.Value, p.env)
	for _, err := range errs {
		p.errorf(nodePos(n), "%s: %w", c, err)
	}
	return s, len(errs) == 0
}

// str returns a string value, "" if it is absent or broken; see scalar.
func (p *parser) str(e *entry) string {
	s, _ := p.scalar(e)
	return s
}

// enum returns the value of an enumeration whose names are names
// (compared without case), def if e is absent. An unknown value is
// reported and returned as zero (not set).
func enum[E ~uint8](p *parser, e *entry, def E, names []string) E {
	s, ok := p.scalar(e)
	if !ok {
		return def
	}
	if v, ok := parseEnum[E](names, s); ok {
		return v
	}
	p.errorf(e.valPos(), "%s: unknown value %q (want %s)", e.ctx, s, oneOf(names))
	return 0
}

// oneOf returns "a", "a or b", or "one of a, b, c".
func oneOf(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " or " + names[1]
	}
	return "one of " + strings.Join(names, ", ")
}

func (p *parser) boolean(e *entry) bool {
	s, ok := p.scalar(e)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	}
	p.errorf(e.valPos(), "%s: want true or false, got %q", e.ctx, s)
	return false
}

func (p *parser) integer(e *entry, def int) int {
	s, ok := p.scalar(e)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		p.errorf(e.valPos(), "%s: want an integer, got %q", e.ctx, s)
		return def
	}
	return int(n)
}

// size parses a size in bytes: an integer, or one with a unit of KiB,
// MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000). It must be
// at least 1.
func (p *parser) size(e *entry, def int) int {
	s, ok := p.scalar(e)
	if !ok {
		return def
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if n, found := strings.CutSuffix(num, u.suffix); found {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<31-1)/mult {
		p.errorf(e.valPos(), "%s: want a size in bytes from 1 to 2GiB such as 1048576, 512KiB or 2MiB, got %q", e.ctx, s)
		return def
	}
	return int(n * mult)
}

// duration parses a Go duration such as "10s" or "500ms". A bare number
// other than 0 is refused: its unit would be a guess.
func (p *parser) duration(e *entry, def time.Duration) time.Duration {
	s, ok := p.scalar(e)
	if !ok {
		return def
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		p.errorf(e.valPos(), "%s: %q has no unit; write a duration with a unit, such as 10s, 500ms or 1m30s", e.ctx, s)
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(e.valPos(), "%s: want a duration such as 10s, 500ms or 1m30s, got %q", e.ctx, s)
		return def
	}
	if d < 0 {
		p.errorf(e.valPos(), "%s: must not be negative, got %s", e.ctx, s)
		return def
	}
	return d
}

// list returns the expanded strings of a list value and the position of
// each; a single value is a list of one. ok is false if e is absent or
// null, or not a list of values (reported).
func (p *parser) list(e *entry) (items []string, pos []Pos, ok bool) {
	if !e.present() {
		return nil, nil, false
	}
	switch e.val.Kind {
	case yaml.ScalarNode:
		s, ok := p.expand(e.val, e.ctx)
		if !ok {
			return nil, nil, true
		}
		return []string{s}, []Pos{e.valPos()}, true
	case yaml.SequenceNode:
		if !p.spend(len(e.val.Content)+1, e.valPos()) {
			return nil, nil, false
		}
		items, pos = []string{}, []Pos{}
		for _, n := range e.val.Content {
			n = resolve(n)
			if n == nil {
				continue
			}
			if n.Kind != yaml.ScalarNode {
				p.errorf(nodePos(n), "%s: want a list of names, got a %s in it", e.ctx, kindName(n))
				continue
			}
			s, ok := p.expand(n, e.ctx)
			if !ok {
				continue
			}
			items = append(items, s)
			pos = append(pos, nodePos(n))
		}
		return items, pos, true
	}
	p.errorf(e.valPos(), "%s: want a list, got a %s", e.ctx, kindName(e.val))
	return nil, nil, false
}
