package sockio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose Read and Write are raw system calls.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn

	// The callbacks handed to raw are method values made once, so a read
	// or write allocates nothing; their arguments and results travel in
	// these fields, which rmu and wmu keep to one Read and one Write at a
	// time (the socket serializes them anyway).
	readFn, writeFn func(fd uintptr) bool
	rmu, wmu        sync.Mutex
	rbuf, wbuf      []byte
	rn, wn          int
	rerr, werr      syscall.Errno
}

func wrap(c net.Conn) net.Conn {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tcp.SyscallConn()
	if err != nil || !nonBlocking(raw) {
		return c
	}
	w := &Conn{TCPConn: tcp, raw: raw}
	w.readFn, w.writeFn = w.read, w.write
	return w
}

// nonBlocking reports whether the socket is in non-blocking mode, as net
// leaves every socket it makes. A raw read on a blocking socket would
// hold its thread and the runtime's P until data came, so such a socket
// (someone called Fd on a File of it) keeps net's path.
func nonBlocking(raw syscall.RawConn) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		flags, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		ok = e == 0 && flags&syscall.O_NONBLOCK != 0
	})
	return ok
}

// maxRW bounds one system call, as internal/poll does.
const maxRW = 1 << 30

func (c *Conn) read(fd uintptr) bool {
	p := c.rbuf
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for readiness
		case 0:
			c.rn = int(n)
		}
		c.rerr = e
		return true
	}
}

// Read reads as net.Conn does: io.EOF at the end of the stream, and
// *net.OpError for failures, deadlines included.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.raw.Read(c.readFn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		p := c.wbuf[c.wn:]
		if len(p) > maxRW {
			p = p[:maxRW]
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until the socket takes more
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// Write writes all of p unless the connection fails or its write
// deadline passes, as net.Conn does.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.raw.Write(c.writeFn)
	n, errno := c.wn, c.werr
	c.wbuf = nil
	c.wmu.Unlock()
	switch {
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	case err != nil:
		return n, c.opError("write", err)
	}
	return n, nil
}

// opError reports err the way net does, under op; errors that the raw
// connection already reported as a *net.OpError (a deadline, a closed
// connection) keep their cause but take op's name.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
