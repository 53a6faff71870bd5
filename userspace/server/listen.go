package server

import (
	"net"

	"github.com/weir-gateway/weir/userspace/config"
)

// listenTCP opens the client socket of a listener.
func listenTCP(l config.Listener) (net.Listener, error) {
	return net.Listen("tcp", l.Address)
}
