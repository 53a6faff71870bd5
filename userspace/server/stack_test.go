package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unsafe"
)

// descend calls itself n times with frames of some 256 bytes.
//
//go:noinline
func descend(n int) byte {
	var b [256]byte
	b[n&255] = byte(n)
	if n == 0 {
		return b[0]
	}
	return descend(n-1) + b[(n*7)&255]
}

// stackMoved runs h on a new goroutine, as net/http's HTTP/2 server does,
// and reports whether the goroutine's stack was moved (grown) while h ran
// a call chain of some 4 KiB.
func stackMoved(h func(http.Handler) http.Handler) bool {
	moved := make(chan bool)
	go h(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var x byte
		before := uintptr(unsafe.Pointer(&x))
		descend(16)
		moved <- uintptr(unsafe.Pointer(&x)) != before
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	return <-moved
}

// TestPresizedGrowsStackFirst checks a handler behind presized runs on a
// stack already big enough for a deep call chain, where a plain new
// goroutine's stack is grown (copied) on the way down.
func TestPresizedGrowsStackFirst(t *testing.T) {
	if !stackMoved(func(h http.Handler) http.Handler { return h }) {
		t.Skip("new goroutines start with a stack big enough here (runtime's adaptive stack start); nothing to compare")
	}
	if stackMoved(presized) {
		t.Error("behind presized the handler's stack still grew")
	}
}
