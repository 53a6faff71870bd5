// Package sockio reads and writes TCP sockets with plain non-blocking
// system calls instead of the runtime's blocking-call path.
//
// Every read and write that net makes enters the Go runtime's syscall
// bookkeeping, which wakes the runtime's monitor thread (sysmon) when it
// was asleep because every P was idle. A proxy that answers one request at
// a time goes idle between the client's request and the upstream's answer,
// so each request wakes sysmon about twice; when the process is pinned to
// one CPU (a Guaranteed pod under the static CPU manager, or the
// benchmark's layout) that thread then takes turns with the one serving
// the request, and the context switches cost more than the request's own
// work. A read or write on a non-blocking socket returns at once, so it
// needs none of that: [Wrap] issues it as a raw system call and waits for
// readiness through the runtime's network poller as net does, deadlines
// included.
package sockio

import (
	"context"
	"net"
)

// Wrap returns c with its Read and Write replaced by raw non-blocking
// system calls when c is a *net.TCPConn on Linux, and c itself otherwise.
// The result still has every other method of c (deadlines, CloseWrite,
// SyscallConn); [Unwrap] gives c back.
func Wrap(c net.Conn) net.Conn {
	return wrap(c)
}

// Unwrap returns the connection that [Wrap] wrapped, or c itself.
func Unwrap(c net.Conn) net.Conn {
	if w, ok := c.(*Conn); ok {
		return w.TCPConn
	}
	return c
}

// Dial returns a dial function for http.Transport, go-redis and the like
// whose connections d dials and [Wrap] wraps.
func Dial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Wrap(c), nil
	}
}
