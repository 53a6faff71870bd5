package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/weir-gateway/weir/userspace/config"
)

// Socket options not in package syscall for every GOARCH (the values are
// the asm-generic ones, the same on amd64 and arm64).
const (
	soReuseport           = 0xf
	soAttachReuseportCBPF = 51
)

// UpgradeAddrsEnv names the environment variable through which a weir that
// is being replaced tells its successor where its sockets are bound, as
// "name=host:port;name=host:port" (AdminSocket names the admin listener). A
// configured address with port 0 is bound to the predecessor's port instead
// of a fresh one, so an upgrade keeps serving the ports clients know.
const UpgradeAddrsEnv = "WEIR_UPGRADE_ADDRS"

// AdminSocket is the name of the admin listener in UpgradeAddrsEnv.
const AdminSocket = "@admin"

// Socket is one bound client listener.
type Socket struct {
	Name     string
	Listener net.Listener
}

// Sockets returns the bound client listeners in configuration order, for
// registering them with the kernel steering and for handing their addresses
// to an upgrade.
func (s *Server) Sockets() []Socket {
	out := make([]Socket, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, Socket{Name: l.name, Listener: l.ln})
	}
	return out
}

// FormatUpgradeAddrs renders socket addresses for UpgradeAddrsEnv.
func FormatUpgradeAddrs(addrs map[string]string) string {
	var b strings.Builder
	for name, addr := range addrs {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name + "=" + addr)
	}
	return b.String()
}

// upgradeAddr returns the address to bind for the socket called name: the
// predecessor's bound address when the configured one asks for any port
// (port 0) and the predecessor had one by that name, else configured.
func upgradeAddr(name, configured string) string {
	if _, port, err := net.SplitHostPort(configured); err != nil || port != "0" {
		return configured
	}
	for _, kv := range strings.Split(os.Getenv(UpgradeAddrsEnv), ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return configured
}

// listenTCP opens the client socket of a listener.
func listenTCP(l config.Listener) (net.Listener, error) {
	return Listen(l.Name, l.Address)
}

// Listen opens a TCP listening socket for the socket called name (a
// listener name, or AdminSocket) with SO_REUSEPORT, so a new weir can bind
// the same address while the old one still serves (upgrade, or a restart
// that starts the new process first). After listen it attaches a classic
// BPF reuseport program that sends every new connection of the address to
// the socket at index 1 of the group: the newest when an old and a new
// process overlap, so the old one's accept queue stops filling and it can
// close without resetting queued connections. In a group of one the index
// is out of range and the kernel falls back to its hash, i.e. this socket.
func Listen(name, address string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt SO_REUSEPORT: %w", serr)
		}
		return nil
	}}
	// Plain TCP: Go listens with MPTCP by default, and an MPTCP listener
	// takes neither the reuseport program nor a place in a SOCKMAP.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", upgradeAddr(name, address))
	if err != nil {
		return nil, err
	}
	if err := preferNewest(ln); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// preferNewest attaches the "index 1" reuseport program to ln's group.
func preferNewest(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("reuseport program: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = attachReuseportCBPF(int(fd), newestProgram) }); err != nil {
		return fmt.Errorf("reuseport program: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("reuseport program: setsockopt SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}

// newestProgram is "return 1": the socket at index 1 of the group.
var newestProgram = []syscall.SockFilter{{Code: syscall.BPF_RET | syscall.BPF_K, K: 1}}

func attachReuseportCBPF(fd int, prog []syscall.SockFilter) error {
	fp := syscall.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := syscall.Syscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, soAttachReuseportCBPF,
		uintptr(unsafe.Pointer(&fp)), unsafe.Sizeof(fp), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
