package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/feathrgo/feathr/feature"
	"go.yaml.in/yaml/v3"
)

// FeatureNamePattern is Feathr's rule for feature names.
const FeatureNamePattern = `^[a-zA-Z_][a-zA-Z0-9_]+$`

var featureName = regexp.MustCompile(FeatureNamePattern)

func (p *parser) key(e entry) *Key {
	k := &Key{Name: e.key.Value, Pos: e.keyPos()}
	c := ctx{thing: fmt.Sprintf("key %q", k.Name)}
	m := p.object(e.val, c, "column", "type", "full_name", "description")

	k.Column, k.ColumnPos = k.Name, k.Pos
	if col := m["column"]; col.present() {
		var ok bool
		k.Column, ok = p.scalar(col)
		k.ColumnPos = col.valPos()
		if ok && k.Column == "" {
			p.errorf(col.valPos(), "%s: is empty; leave it out to use the key's name", col.ctx)
		}
	}

	k.TypePos = k.Pos
	if t := m["type"]; t.present() {
		k.TypePos = t.valPos()
		if s, ok := p.scalar(t); ok {
			kt, err := feature.ParseKeyType(s)
			if err != nil {
				p.errorf(t.valPos(), "%s: %w", t.ctx, err)
			}
			k.Type = kt
		}
	} else {
		p.required(m, "type", k.Pos, c, " (one of BOOL, INT32, INT64, FLOAT, DOUBLE, STRING, BYTES)")
	}
	k.FullName = p.str(m["full_name"])
	k.Description = p.str(m["description"])
	return k
}

func (p *parser) anchor(e entry) *Anchor {
	a := &Anchor{Name: e.key.Value, Pos: e.keyPos()}
	c := ctx{thing: fmt.Sprintf("anchor %q", a.Name)}
	m := p.object(e.val, c, "source", "key", "features")

	a.SourcePos = a.Pos
	if s := m["source"]; s.present() {
		a.Source, a.SourcePos = p.str(s), s.valPos()
	} else {
		p.required(m, "source", a.Pos, c, " (the name of a source)")
	}

	a.Key, a.KeyEntryPos, a.KeyPos = p.requiredNames(m, "key", a.Pos, c, " (a list of key names)")

	if fs := m["features"]; fs.present() {
		for _, fe := range p.pairs(fs.val, fs.ctx, "feature") {
			a.Features = append(a.Features, p.feature(fe, a))
		}
		if len(a.Features) == 0 && fs.val.Kind == yaml.MappingNode && len(fs.val.Content) == 0 {
			p.errorf(fs.valPos(), "%s: is empty; an anchor defines at least one feature", fs.ctx)
		}
	} else {
		p.required(m, "features", a.Pos, c, " (at least one feature)")
	}
	return a
}

func (p *parser) feature(e entry, a *Anchor) *Feature {
	f := &Feature{Name: e.key.Value, Pos: e.keyPos(), Anchor: a}
	c := ctx{thing: fmt.Sprintf("feature %q", f.Name)}
	if !featureName.MatchString(f.Name) {
		p.errorf(f.Pos, "%s: invalid name: a feature name is a letter or '_' then at least one letter, digit or '_' (%s)", c, FeatureNamePattern)
	}
	m := p.object(e.val, c, "type", "transform")

	f.TypePos = f.Pos
	if t := m["type"]; t.present() {
		f.TypePos = t.valPos()
		if s, ok := p.scalar(t); ok {
			ft, err := feature.ParseType(s)
			if err != nil {
				p.errorf(t.valPos(), "%s: %w", t.ctx, err)
			}
			f.Type = ft
		}
	} else {
		p.required(m, "type", f.Pos, c, " (e.g. INT32, DOUBLE, BOOLEAN, STRING, FLOAT_VECTOR)")
	}

	f.TransformPos = f.Pos
	if t := m["transform"]; t.present() && isAggregation(t) {
		f.Agg = p.aggregation(t)
		f.TransformPos = f.Agg.Pos
		p.checkAggregationType(f, c)
	} else if t.present() {
		if t.val.Kind == yaml.ScalarNode {
			f.transformLoc = p.src.locate(t.val)
			f.TransformPos = f.TransformAt(1, 1)
		}
		f.Transform = p.str(t)
		if t.val.Kind == yaml.ScalarNode && strings.TrimSpace(f.Transform) == "" {
			p.errorf(t.valPos(), "%s: is empty; leave it out to read the field %q", t.ctx, f.Name)
		}
	}
	return f
}

// Expr returns the feature's row-level expression: its transform, or its
// name (the field of the same name) if it has none. An aggregation's
// expressions are in Agg.
func (f *Feature) Expr() string {
	if f.Transform == "" {
		return f.Name
	}
	return f.Transform
}

// TransformAt returns the file position of line and column (both 1-based,
// the column in characters) of the transform's text, so that an error of
// the expression's compiler can point into the file. TransformAt(1, 1) is
// TransformPos. Line L of a literal block (|) is the L-th line of the
// block, at the block's indentation; a quoted, plain or folded (>) value
// is matched character by character against the file, so that quotes,
// escapes and folded line breaks are skipped. A column past the end of a
// line extends that line; a line past the end is the last one. A Feature
// that was not loaded from a file counts from TransformPos.
func (f *Feature) TransformAt(line, col int) Pos {
	return textAt(f.transformLoc, f.TransformPos, f.Pos, line, col)
}

// textAt maps a position in a text to the file: with l if there is one,
// else counting from start (or, if that is unknown, from fallback).
func textAt(l *locator, start, fallback Pos, line, col int) Pos {
	if l != nil {
		return l.at(line, col)
	}
	if !start.IsValid() {
		start = fallback
	}
	line, col = max(line, 1), max(col, 1)
	if line == 1 {
		return Pos{Line: start.Line, Column: start.Column + col - 1}
	}
	return Pos{Line: start.Line + line - 1, Column: col}
}
