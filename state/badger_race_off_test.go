//go:build !race

package state

// raceEnabled reports a -race build, whose shadow memory makes RSS figures meaningless.
const raceEnabled = false
