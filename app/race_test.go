//go:build race

package app_test

// raceEnabled: the race detector is on, and sync.Pool drops some of what it
// is given, on purpose, so allocation counts are not the program's.
const raceEnabled = true
