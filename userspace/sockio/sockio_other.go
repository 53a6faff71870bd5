//go:build !linux

package sockio

import "net"

// Conn is never made outside Linux: [Wrap] returns connections unchanged.
type Conn struct {
	*net.TCPConn
}

func wrap(c net.Conn) net.Conn { return c }
