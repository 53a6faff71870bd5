//go:build race

package proxy

// raceEnabled: the race detector moves some values to the heap, so
// allocation counts are checked only without it.
const raceEnabled = true
