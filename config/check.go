package config

import (
	"fmt"
	"slices"
	"strings"
)

// check checks the references between the things of f, once each has
// been decoded (and checked on its own).
func (p *parser) check(f *File) {
	var sourceNames, keyNames, featureNames []string
	for _, s := range f.Sources {
		sourceNames = append(sourceNames, s.Name)
	}
	for _, k := range f.Keys {
		keyNames = append(keyNames, k.Name)
	}

	for _, a := range f.Anchors {
		if a.Source != "" && f.Source(a.Source) == nil {
			p.errorf(a.SourcePos, "anchor %q: source %q is not defined%s", a.Name, a.Source, known("sources", a.Source, sourceNames))
		}
		for i, k := range a.Key {
			pos := entryPos(a.KeyEntryPos, i, a.KeyPos)
			switch {
			case k == "":
				p.errorf(pos, "anchor %q: a key name must not be empty", a.Name)
			case slices.Contains(a.Key[:i], k):
				p.errorf(pos, "anchor %q: key %q is listed twice", a.Name, k)
			case f.Key(k) == nil:
				p.errorf(pos, "anchor %q: key %q is not defined%s", a.Name, k, known("keys", k, keyNames))
			}
		}
	}

	byName := make(map[string]*Feature)
	for _, a := range f.Anchors {
		for _, ft := range a.Features {
			if first := byName[ft.Name]; first != nil {
				p.errorf(ft.Pos, "feature %q is already defined in anchor %q at line %d: feature names are unique across anchors",
					ft.Name, first.Anchor.Name, first.Pos.Line)
				continue
			}
			byName[ft.Name] = ft
			featureNames = append(featureNames, ft.Name)
		}
	}

	for _, m := range f.Materializations {
		var first *Feature // the first defined feature, whose key the others share
		for i, name := range m.Features {
			pos := entryPos(m.FeaturePos, i, m.FeaturesPos)
			ft := byName[name]
			if ft != nil && ft.Agg != nil && strings.ContainsAny(m.Sink.Table, "{}") && !slices.ContainsFunc(m.Features[:i], func(n string) bool { return byName[n] != nil && byName[n].Agg != nil }) {
				// An aggregation's state key starts with a hash tag in
				// braces: a table name with one could collide with it.
				p.errorf(pos, "materialization %q: feature %q is an aggregation, so the table name %q must not contain '{' or '}'", m.Name, name, m.Sink.Table)
			}
			switch {
			case name == "":
				p.errorf(pos, "materialization %q: a feature name must not be empty", m.Name)
				continue
			case slices.Contains(m.Features[:i], name):
				p.errorf(pos, "materialization %q: feature %q is listed twice", m.Name, name)
				continue
			case ft == nil:
				p.errorf(pos, "materialization %q: feature %q is not defined%s", m.Name, name, known("features", name, featureNames))
				continue
			case len(ft.Anchor.Key) == 0:
				continue // reported with the anchor
			case first == nil:
				first = ft
				continue
			}
			if !slices.Equal(ft.Anchor.Key, first.Anchor.Key) {
				p.errorf(pos, "materialization %q: feature %q of anchor %q is keyed by %s, but %q of anchor %q by %s: all features of a materialization share one key",
					m.Name, ft.Name, ft.Anchor.Name, keyList(ft.Anchor.Key), first.Name, first.Anchor.Name, keyList(first.Anchor.Key))
			}
		}
	}
}

func entryPos(pos []Pos, i int, def Pos) Pos {
	if i < len(pos) {
		return pos[i]
	}
	return def
}

func keyList(k []string) string { return "[" + strings.Join(k, ", ") + "]" }

// known returns a hint for a name that is not among names: the closest
// one, or the list of them.
func known(noun, name string, names []string) string {
	if s := suggest(name, names); s != "" {
		return s
	}
	switch {
	case len(names) == 0:
		return fmt.Sprintf(" (no %s are defined)", noun)
	case len(names) <= 8:
		return fmt.Sprintf(" (%s: %s)", noun, strings.Join(names, ", "))
	}
	return ""
}
