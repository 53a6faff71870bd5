package server

import "net/http"

// stackFrame is the stack the handler of an HTTP/2 or HTTP/3 request gets
// in one step. net/http and quic-go start every request on a new goroutine
// with a small stack, and weir's proxy path, some thirty calls deep, made
// the runtime grow it on the way down, each time copying and unwinding
// every frame below: 5 % of an h2c request's CPU in pprof. Grown at the
// top of the handler, with a handful of frames below, the same growth
// costs half that, and 8 KiB (the 6 KiB asked for, rounded up to a power
// of two) holds the whole proxy path: no growth further down showed in
// the profile.
const stackFrame = 6 << 10

// presized runs next on a stack grown to hold stackFrame more bytes.
func presized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		growStack(0)
		next.ServeHTTP(w, r)
	})
}

// growStack has a frame of stackFrame bytes, which makes the runtime grow
// the calling goroutine's stack before it runs; the array is touched so
// the compiler keeps it.
//
//go:noinline
func growStack(i int) byte {
	var b [stackFrame]byte
	b[i] = 1
	return b[len(b)-1-i]
}
