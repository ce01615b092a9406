//go:build race

package transform

// raceEnabled is set when the race detector is, which makes the
// differential tests evaluate fewer records.
const raceEnabled = true
