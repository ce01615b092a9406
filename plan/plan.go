// Package plan compiles a loaded config into what runs: for each Kafka
// source a decoder and the targets it feeds, each target the key columns
// and compiled feature programs of one materialization. Compile reports
// every problem it finds, located in the YAML file; it is all of
// validate's checks but the file's own.
//
// The files: plan.go (Compile, sources, anchors, materializations),
// aggregation.go (the aggregated features' programs), policy.go (the
// on_error policies of a source's records).
//
// plan imports config, decode, transform, window, feature, record and
// internal/nearest. It knows nothing of Kafka or of the store's wire
// format: the pipeline runs a plan, and package sink encodes what it
// writes.
package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/feathrgo/feathr/internal/nearest"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/transform"
)

// Plan is a compiled config, ready to run.
type Plan struct {
	File *config.File
	// Materializations are the selected materializations, in file order.
	Materializations []*Materialization
	// Sources are the sources the selected materializations read, in file order.
	Sources []*Source
}

// Materialization is one compiled materialization.
type Materialization struct {
	Config  *config.Materialization
	OnError config.OnError
	// Aggregations are its aggregated features, in the order of the
	// file's list (see TargetAggregation.Index).
	Aggregations []*Feature
}

// Source is one compiled Kafka source and the targets its records feed.
type Source struct {
	Config  *config.Source
	Decoder decode.Decoder
	// EventTimeField is the field of the source's records that holds their
	// event time (the source's timestamp); empty means the Kafka record
	// timestamp.
	EventTimeField string
	timeKind       record.Kind
	Targets        []*Target
}

// Target is what one source contributes to one materialization: the
// features of that materialization anchored on the source, under one key.
type Target struct {
	Materialization *Materialization
	Key             []KeyPart
	// Features are the row-level features, Aggregations the aggregated
	// ones.
	Features     []*Feature
	Aggregations []TargetAggregation
}

// KeyPart is one column of an entity key.
type KeyPart struct {
	Name   string // the key's name in the config
	Column string
	Type   feature.KeyType
}

// Feature is one compiled feature: a row-level transform (Program), or
// a sliding-window aggregation (Agg).
type Feature struct {
	Name    string
	Type    feature.Type
	Program *transform.Program // nil for an aggregation
	Agg     *Aggregation       // nil for a row-level feature
}

// Options select what Compile compiles.
type Options struct {
	// Materializations names the materializations to run; empty means all.
	Materializations []string
	// Limits bound what the decoders accept of one message; a source's
	// max_record_bytes replaces MaxBytes.
	Limits decode.Limits
}

// Compile compiles every anchor of f (so that validate checks all of them)
// and the selected materializations. Its error is a config.Errors listing
// every problem with its position.
func Compile(f *config.File, opts Options) (*Plan, error) {
	c := &compiler{file: f, envs: map[string]*sourceEnv{}, feats: map[string]*Feature{}, limits: opts.Limits}
	c.compileSources()
	c.compileAnchors()
	p := &Plan{File: f}
	c.compileMaterializations(p, opts.Materializations)
	if len(c.errs) > 0 {
		return p, c.errs.Err()
	}
	return p, nil
}

type sourceEnv struct {
	src     *Source
	schema  record.Schema
	env     *transform.Env
	invalid bool
}

type compiler struct {
	file   *config.File
	errs   config.Errors
	envs   map[string]*sourceEnv // by source name
	feats  map[string]*Feature   // by feature name
	limits decode.Limits
}

func (c *compiler) errorf(pos config.Pos, format string, args ...any) {
	c.errs = append(c.errs, config.Errorf(c.file.Path, pos, format, args...))
}

func (c *compiler) compileSources() {
	for _, s := range c.file.Sources {
		se := &sourceEnv{src: &Source{Config: s, EventTimeField: s.Timestamp}}
		c.envs[s.Name] = se
		lim := c.limits
		if s.MaxRecordBytes > 0 {
			lim.MaxBytes = s.MaxRecordBytes
		}
		dec, err := newDecoder(s, lim)
		if err != nil {
			se.invalid = true
			var serr *decode.SchemaError
			if errors.As(err, &serr) {
				if schemaReported(s) {
					continue // config reported it, at the same place
				}
				c.errorf(s.SchemaAtOffset(max(serr.Offset, 0)), "source %s: schema: %s", s.Name, serr.Msg)
			} else {
				c.errorf(s.SchemaPos, "source %s: %v", s.Name, err)
			}
			continue
		}
		se.src.Decoder = dec
		se.schema = dec.Schema()
		env, err := transform.NewEnv(se.schema)
		if err != nil {
			se.invalid = true
			c.errorf(s.SchemaPos, "source %s: %v", s.Name, err)
			continue
		}
		se.env = env
		if s.Timestamp != "" {
			fld, ok := se.schema.Field(s.Timestamp)
			switch {
			case !ok:
				c.errorf(s.TimestampPos, "source %s: timestamp field %q is not in the schema%s", s.Name, s.Timestamp, suggest(s.Timestamp, se.schema))
			case fld.Type.Kind != record.Timestamp && fld.Type.Kind != record.Int:
				c.errorf(s.TimestampPos, "source %s: timestamp field %q is %s; want a timestamp or an integer of epoch milliseconds", s.Name, s.Timestamp, fld.Type)
			default:
				se.src.timeKind = fld.Type.Kind
			}
		}
	}
}

// schemaReported reports whether config already reported the schema of s
// as empty (format avro) or as not JSON, so that Compile does not report
// the same problem twice.
func schemaReported(s *config.Source) bool {
	if strings.TrimSpace(s.Schema) == "" {
		return s.Format == config.FormatAvro
	}
	return !json.Valid([]byte(s.Schema))
}

func newDecoder(s *config.Source, lim decode.Limits) (decode.Decoder, error) {
	switch s.Format {
	case config.FormatJSON:
		return decode.NewJSON(s.Schema, lim)
	case config.FormatConfluent:
		if s.Registry == nil {
			return nil, fmt.Errorf("format confluent needs a registry")
		}
		reg, err := decode.NewRegistry(s.Registry.URL, s.Registry.Username, s.Registry.Password, nil)
		if err != nil {
			return nil, err
		}
		return decode.NewConfluent(s.Schema, reg, lim)
	default:
		return decode.NewAvro(s.Schema, lim)
	}
}

func (c *compiler) compileAnchors() {
	for _, a := range c.file.Anchors {
		se := c.envs[a.Source]
		if se == nil || se.invalid {
			continue // config reported a missing source; a broken schema is reported once
		}
		for _, k := range a.Key {
			key := c.file.Key(k)
			if key == nil {
				continue
			}
			c.checkKey(a, key, se.schema)
		}
		for _, f := range a.Features {
			ft := f.Type
			if ft == 0 {
				continue // reported by config
			}
			if f.Agg != nil {
				c.compileAggregation(se.env, f)
				continue
			}
			expr := f.Transform
			pos := func(line, col int) config.Pos { return f.TransformAt(line, col) }
			if expr == "" {
				expr = f.Name
				pos = func(int, int) config.Pos { return f.Pos }
			}
			prog, err := se.env.Compile(expr, ft)
			if err != nil {
				c.transformErrors(f, pos, err)
				continue
			}
			c.feats[f.Name] = &Feature{Name: f.Name, Type: ft, Program: prog}
		}
	}
}

func (c *compiler) transformErrors(f *config.Feature, pos func(line, col int) config.Pos, err error) {
	var terrs []*transform.Error
	collectTransformErrors(err, &terrs)
	if len(terrs) == 0 {
		c.errorf(pos(1, 1), "feature %s: %v", f.Name, err)
		return
	}
	for _, te := range terrs {
		msg := fmt.Sprintf("feature %s: %s", f.Name, te.Msg)
		if te.Hint != "" {
			msg += " (hint: " + te.Hint + ")"
		}
		c.errorf(pos(max(te.Line, 1), max(te.Column, 1)), "%s", msg)
	}
}

func collectTransformErrors(err error, out *[]*transform.Error) {
	if te, ok := err.(*transform.Error); ok {
		*out = append(*out, te)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectTransformErrors(e, out)
		}
		return
	}
	var te *transform.Error
	if errors.As(err, &te) {
		*out = append(*out, te)
	}
}

// checkKey reports a key column that is missing from the schema or whose
// type cannot be the key's declared type.
func (c *compiler) checkKey(a *config.Anchor, k *config.Key, schema record.Schema) {
	kt := k.Type
	if kt == 0 {
		return // reported by config
	}
	fld, ok := schema.Field(k.Column)
	if !ok {
		c.errorf(k.ColumnPos, "key %s: column %q is not a field of source %s%s", k.Name, k.Column, a.Source, suggest(k.Column, schema))
		return
	}
	if !keyCompatible(kt, fld.Type.Kind) {
		c.errorf(k.TypePos, "key %s: column %q of source %s is %s, which cannot be a %s key", k.Name, k.Column, a.Source, fld.Type, kt)
	}
}

func keyCompatible(kt feature.KeyType, k record.Kind) bool {
	switch k {
	case record.Any:
		return true
	case record.Int:
		return kt != feature.KeyBool && kt != feature.KeyBytes
	case record.Float:
		return kt == feature.KeyFloat || kt == feature.KeyDouble || kt == feature.KeyString
	case record.Bool:
		return kt == feature.KeyBool || kt == feature.KeyString
	case record.String:
		return kt == feature.KeyString || kt == feature.KeyBytes
	case record.Bytes:
		return kt == feature.KeyBytes || kt == feature.KeyString
	case record.Timestamp:
		return kt == feature.KeyString || kt == feature.KeyInt64
	}
	return false
}

func (c *compiler) compileMaterializations(p *Plan, names []string) {
	selected := map[string]bool{}
	for _, n := range names {
		if c.file.Materialization(n) == nil {
			var all []string
			for _, m := range c.file.Materializations {
				all = append(all, m.Name)
			}
			c.errs = append(c.errs, &config.Error{File: c.file.Path, Msg: fmt.Sprintf("no materialization named %q (the file has: %s)", n, strings.Join(all, ", "))})
			continue
		}
		selected[n] = true
	}
	srcSeen := map[string]*Source{}
	for _, m := range c.file.Materializations {
		if len(names) > 0 && !selected[m.Name] {
			continue
		}
		pm := &Materialization{Config: m, OnError: m.OnError}
		p.Materializations = append(p.Materializations, pm)
		targets := map[string]*Target{} // by source name
		for _, name := range m.Features {
			cf := c.file.Feature(name)
			if cf == nil || cf.Anchor == nil {
				continue // reported by config
			}
			se := c.envs[cf.Anchor.Source]
			f := c.feats[name]
			if se == nil || se.invalid || f == nil {
				continue // reported above
			}
			t := targets[se.src.Config.Name]
			if t == nil {
				t = &Target{Materialization: pm}
				for _, kn := range cf.Anchor.Key {
					k := c.file.Key(kn)
					if k == nil {
						continue
					}
					t.Key = append(t.Key, KeyPart{Name: k.Name, Column: k.Column, Type: k.Type})
				}
				targets[se.src.Config.Name] = t
				se.src.Targets = append(se.src.Targets, t)
				if srcSeen[se.src.Config.Name] == nil {
					srcSeen[se.src.Config.Name] = se.src
				}
			}
			if f.Agg != nil {
				t.Aggregations = append(t.Aggregations, TargetAggregation{Feature: f, Index: len(pm.Aggregations)})
				pm.Aggregations = append(pm.Aggregations, f)
				continue
			}
			t.Features = append(t.Features, f)
		}
	}
	for _, s := range c.file.Sources {
		if src := srcSeen[s.Name]; src != nil {
			p.Sources = append(p.Sources, src)
		}
	}
}

// Timeout is how long a run of p lasts unless told otherwise: the longest
// timeout of the selected materializations, or 0 (until stopped) when any
// of them has none.
func (p *Plan) Timeout() time.Duration {
	var t time.Duration
	for _, m := range p.Materializations {
		if m.Config.Timeout == 0 {
			return 0
		}
		t = max(t, m.Config.Timeout)
	}
	return t
}

// Names returns the names of the selected materializations, in file order.
func (p *Plan) Names() []string {
	names := make([]string, len(p.Materializations))
	for i, m := range p.Materializations {
		names[i] = m.Config.Name
	}
	return names
}

// EventTime returns the record's event time: the configured timestamp field,
// or kafkaTime when there is none or the field is null.
func (s *Source) EventTime(r record.Record, kafkaTime time.Time) time.Time {
	if s.EventTimeField == "" {
		return kafkaTime
	}
	switch v := r[s.EventTimeField].(type) {
	case time.Time:
		return v
	case int64:
		return time.UnixMilli(v)
	}
	return kafkaTime
}

// suggest returns " (did you mean X?)" for the schema field nearest to name,
// or "" when none is near.
func suggest(name string, s record.Schema) string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	best := nearest.Name(name, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
