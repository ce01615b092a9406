// Package cmd holds feathr's command line: the cobra commands, their
// flags and usage errors, and the run of each over the library packages.
//
// It follows the GitHub CLI's pattern. A Factory holds what the commands
// use from outside the process: the I/O streams and environment
// (IOStreams), opening the online store (a Store: *sink.Store through a
// thin adapter), the interrupts of materialize and the exit at a second
// one; NewFactory gives the process's own, and tests replace the ones
// they fake. Each command parses its flags into an options struct that
// also carries the dependencies it uses, and its run function takes only
// that struct, so a test drives it with fakes where a real server adds
// nothing. A run function is wiring: the timeouts, the writer's options
// and the summary belong to the packages that own them (plan, sink,
// pipeline).
//
// The files:
//
//   - root.go: the command tree (NewRootCmd), Run and the exit codes
//     (0 ok, 1 failed, 2 usage, 130 interrupted twice), IOStreams.
//   - factory.go: Factory and NewFactory.
//   - store.go: the Store interface and its sink adapter; storeOptions,
//     the precedence of --redis, online_store and FEATHR_REDIS_URL.
//   - materialize.go: feathr materialize, its options and runMaterialize
//     (and the dry run); materialize_run.go: the steps it wires (the plan,
//     the memory limit, writer options, metrics and readiness, the run
//     with its progress line and summary); signals.go: the run's context,
//     its timeout and interrupts.
//   - get.go: feathr get and multi-get; get_json.go: their output.
//   - aggregations.go: window aggregations in the commands: the
//     refresher materialize runs, get -f computing them at read time
//     (--at).
//   - validate.go: feathr validate, and loadPlan, which materialize shares.
//   - dev.go: feathr dev, the in-process sandbox.
//   - version.go: feathr version and the build's version.
//
// In the tests, fake_test.go holds a fake Store and fakeRun, which runs a
// command line over it; the others run against kfake and a private
// redis-server.
//
// cmd may import every package of feathr; nothing imports cmd but the
// main package.
package cmd
