// Package window defines feathr's sliding-window aggregations, Feathr's
// WindowAggTransformation computed online, independently of Kafka and
// Redis.
//
// It holds:
//   - the functions (Func) and their type rules, which the config
//     compiler calls with the type of agg_expr and the declared feature
//     type (Func.CheckInput, Func.CheckType, CheckFilter);
//   - Feathr's window syntax (ParseDuration, ParseLateness,
//     FormatDuration), the default hop (DefaultHop) and a Spec with its
//     rules (Spec.Check);
//   - the time arithmetic of hop-aligned tiles (Spec.TileOf,
//     Spec.Visible, Spec.Late, Spec.Expired);
//   - the tile IR in Go: one event accumulated into a tile (Func.Add),
//     two tiles merged (Func.Merge), the tiles visible at a read time
//     folded (Spec.Fold) and finished into a value (Func.Value) that
//     Output converts to the declared type;
//   - the tile encoding shared with the Redis script of package sink
//     (AppendTiles, DecodeTiles; the format is documented there);
//   - a brute-force Reference, which keeps every event, for tests of any
//     package;
//   - COUNT_DISTINCT's Hash of a value.
//
// # Semantics
//
// A feature's events are summed into tiles of width Hop aligned to the
// Unix epoch: an event at time t (ms) falls in tile b = floor(t/hop). The
// value read at time T aggregates the tiles b with (b+1)·hop > T − window
// and b·hop ≤ T: a sawtooth window between Window and Window+Hop long, so
// the precision is one hop. An event at or before now − Window − Lateness
// (now being the writer's wall clock) is late and not aggregated. Nulls
// and filtered-out events follow Feathr's offline sliding-window join
// (SWJ), with the deviations listed on each Func.
//
// The package imports only the standard library and packages feature and
// record.
package window
