package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/sink"
)

// The commands' part of sliding-window aggregations: materialize keeps
// the stored values current (a refresher), and get -f computes the
// aggregated features at read time.

// refreshStarter is a Store that refreshes stored aggregations
// (*sink.Store through sinkStore).
type refreshStarter interface {
	StartRefresher(tables []*sink.Table, opts sink.RefresherOptions) *sink.Refresher
}

// startRefresher starts refreshing the aggregated features that pl
// writes, when st can and there are any; the func it returns stops it.
func startRefresher(st Store, pl *pipeline.Pipeline, log *slog.Logger) (stop func()) {
	rs, ok := st.(refreshStarter)
	var tables []*sink.Table
	for _, t := range pl.Tables() {
		if len(t.Aggregations()) > 0 {
			tables = append(tables, t)
		}
	}
	if !ok || len(tables) == 0 {
		return func() {}
	}
	r := rs.StartRefresher(tables, sink.RefresherOptions{Logger: log})
	return r.Close
}

// atReader is a StoreReader that computes aggregated features at a time
// (*sink.Reader).
type atReader interface {
	GetAt(ctx context.Context, t *sink.Table, keys, features []string, T int64) ([][]any, error)
}

// aggTable returns the table named table with the aggregated features
// that f's materializations write into it, when features names any of
// them; nil when it names none. A feature written into the table by two
// materializations is read from the first.
func aggTable(f *config.File, table string, features []string) (*sink.Table, error) {
	if f == nil {
		return nil, nil
	}
	for _, m := range f.Materializations {
		if m.Sink.Table != table {
			continue
		}
		var aggs []sink.AggFeature
		named := false
		for _, name := range m.Features {
			ft := f.Feature(name)
			if ft == nil || ft.Agg == nil {
				continue
			}
			aggs = append(aggs, sink.AggFeature{Name: ft.Name, Spec: ft.Agg.Spec, Type: ft.Type})
			named = named || slices.Contains(features, name)
		}
		if !named {
			continue
		}
		t, err := sink.NewTable(m.Name, m.Sink, nil, aggs...)
		if err != nil {
			return nil, fmt.Errorf("%s: materialization %s: %w", f.Path, m.Name, err)
		}
		return t, nil
	}
	return nil, nil
}

// readValues reads opts.Keys: with the aggregated features of the -f
// file's table computed at now, else the stored fields.
func readValues(ctx context.Context, r StoreReader, f *config.File, opts *GetOptions, now time.Time) ([][]any, error) {
	t, err := aggTable(f, opts.Table, opts.Features)
	if err != nil {
		return nil, err
	}
	if ar, ok := r.(atReader); ok && t != nil {
		return ar.GetAt(ctx, t, opts.Keys, opts.Features, now.UnixMilli())
	}
	return r.Get(ctx, opts.Table, opts.Keys, opts.Features)
}

// parseAt parses --at: RFC 3339, or unix milliseconds.
func parseAt(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 (2026-12-01T10:00:00Z) or unix milliseconds, not %q", s)
	}
	return t, nil
}
