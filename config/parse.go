package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Load reads the file at path and parses it; see Parse. If the file
// cannot be read, the error is the read error, not an Errors.
func Load(path string, lookupEnv func(string) (string, bool)) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &File{Path: path}, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data, lookupEnv)
}

// Parse decodes and checks data, the contents of the file at path.
// Values are expanded with lookupEnv (os.LookupEnv if nil): see the
// package documentation. Parse reports every problem it finds at once: on
// problems, it returns the File as far as it could fill it and an Errors
// sorted by position.
func Parse(path string, data []byte, lookupEnv func(string) (string, bool)) (*File, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	p := &parser{file: path, src: newSource(data), env: lookupEnv}
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		p.errorf(Pos{Line: 1, Column: 1}, "the file is empty: define sources, keys, anchors and materializations")
		return f, p.result()
	case err != nil:
		p.syntaxError(err)
		return f, p.result()
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errorf(Pos{Line: next.Line, Column: next.Column}, "a second YAML document: a feathr file holds one")
	case !errors.Is(err, io.EOF):
		p.syntaxError(err)
	}
	p.decodeFile(f, &doc)
	p.check(f)
	return f, p.result()
}

// parser decodes a YAML node tree into a File, collecting every problem.
type parser struct {
	file string
	src  *source
	env  func(string) (string, bool)
	errs Errors

	work       int  // see spend
	overBudget bool // reported
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, Errorf(p.file, pos, format, args...))
}

// result returns the errors, sorted and without repeats (a value reached
// through several aliases is checked each time), or nil.
func (p *parser) result() error {
	p.errs.Sort()
	p.errs = slices.CompactFunc(p.errs, func(a, b *Error) bool {
		return a.File == b.File && a.Pos == b.Pos && a.Msg == b.Msg
	})
	return p.errs.Err()
}

var (
	yamlLine   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlParserErrors are the messages of the YAML parser (as opposed to its
// scanner), whose line yaml.v3 reports counting from 0. The line is that
// of the construct being parsed, e.g. an unclosed flow mapping.
var yamlParserErrors = []string{
	"did not find expected <",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ",
	"found duplicate %",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxError reports an error of the YAML parser. It gives a line (or
// none, for the first) but no column: the column is that of the line's
// first non-blank character.
func (p *parser) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	for _, prefix := range yamlParserErrors {
		if strings.HasPrefix(msg, prefix) {
			line++
			break
		}
	}
	if m := yamlAnchor.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(p.src.b, []byte("*"+m[1])); i >= 0 {
			off := i
			line = 1
			for line < len(p.src.lines) && p.src.lines[line] <= off {
				line++
			}
			p.errorf(Pos{Line: line, Column: 1 + utf8.RuneCount(p.src.b[p.src.lines[line-1]:off])}, "invalid YAML: %s", msg)
			return
		}
	}
	if line == 0 && strings.Contains(msg, "end of stream") {
		line = len(p.src.lines)
	}
	line = max(1, min(line, len(p.src.lines)))
	col := 1
	for off := p.src.lines[line-1]; off < len(p.src.b) && p.src.b[off] == ' '; off++ {
		col++
	}
	p.errorf(Pos{Line: line, Column: col}, "invalid YAML: %s", msg)
}

// required reports that the field name of an object is missing: at its
// key if it is there with no value, else at owner.
func (p *parser) required(m fields, name string, owner Pos, c ctx, hint string) {
	if m == nil {
		return // not a mapping: reported
	}
	if e := m[name]; e != nil {
		owner = e.keyPos()
	}
	p.errorf(owner, "%s is required%s", c.field(name), hint)
}

// named returns the entries of a map of named things, reporting empty names.
func (p *parser) named(m fields, field, noun string) []entry {
	e := m[field]
	if e == nil {
		return nil
	}
	es := p.pairs(e.val, ctx{path: field}, noun)
	for _, e := range es {
		if strings.TrimSpace(e.key.Value) == "" {
			p.errorf(e.keyPos(), "%s: a %s name must not be empty", field, noun)
		}
	}
	return es
}

func (p *parser) decodeFile(f *File, doc *yaml.Node) {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = resolve(doc.Content[0])
	}
	if root == nil || isNull(root) {
		p.errorf(Pos{Line: 1, Column: 1}, "the file is empty: define sources, keys, anchors and materializations")
		return
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(nodePos(root), "want a mapping of sources, keys, anchors, online_store and materializations, got a %s", kindName(root))
		return
	}
	top := p.object(root, ctx{}, "sources", "keys", "anchors", "online_store", "materializations")
	for _, e := range p.named(top, "sources", "source") {
		f.Sources = append(f.Sources, p.source(e))
	}
	for _, e := range p.named(top, "keys", "key") {
		f.Keys = append(f.Keys, p.key(e))
	}
	for _, e := range p.named(top, "anchors", "anchor") {
		f.Anchors = append(f.Anchors, p.anchor(e))
	}
	f.OnlineStore.Redis = Redis{Addr: DefaultRedisAddr}
	if e := top["online_store"]; e.present() {
		m := p.object(e.val, e.ctx, "redis")
		if r := m["redis"]; r.present() {
			p.redis(r, &f.OnlineStore.Redis)
		}
	}
	for _, e := range p.named(top, "materializations", "materialization") {
		f.Materializations = append(f.Materializations, p.materialization(e))
	}
}
