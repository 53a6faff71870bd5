package sockio

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

	// Coalesce sets holdNext; the next Write then leaves its bytes in
	// held, under wmu, for the write after it or for release, which
	// holdTimer runs after maxHold. A failed release is reported by the
	// next Write, as heldErr.
	holdNext  atomic.Bool
	held      []byte
	holdTimer *time.Timer
	heldErr   error
}

// maxHold bounds how long Coalesce holds a write when none follows.
const maxHold = time.Millisecond

// maxCoalesced bounds the copy that puts a held write and the next one
// into one buffer; a larger next write goes in a system call of its own.
const maxCoalesced = 16 << 10

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
	var n int
	var err error
	if c.holdNext.Load() || len(c.held) > 0 || c.heldErr != nil {
		n, err = c.writeHolding(p)
	} else {
		n, err = c.writeLocked(p)
	}
	c.wmu.Unlock()
	return n, err
}

func (c *Conn) writeLocked(p []byte) (int, error) {
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.raw.Write(c.writeFn)
	n, errno := c.wn, c.werr
	c.wbuf = nil
	switch {
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	case err != nil:
		return n, c.opError("write", err)
	}
	return n, nil
}

// writeHolding is Write when Coalesce asked to hold this write, or when
// bytes are held: they go first, in the same system call as p when both
// are small.
func (c *Conn) writeHolding(p []byte) (int, error) {
	if err := c.heldErr; err != nil {
		return 0, err
	}
	if len(c.held) == 0 && c.holdNext.Swap(false) {
		c.held = append(c.held, p...)
		if c.holdTimer == nil {
			c.holdTimer = time.AfterFunc(maxHold, c.release)
		} else {
			c.holdTimer.Reset(maxHold)
		}
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.writeLocked(p)
	}
	c.holdTimer.Stop()
	h := len(c.held)
	defer func() { c.held = c.held[:0] }()
	if h+len(p) > maxCoalesced {
		if _, err := c.writeLocked(c.held); err != nil {
			c.heldErr = err
			return 0, err
		}
		return c.writeLocked(p)
	}
	c.held = append(c.held, p...)
	n, err := c.writeLocked(c.held)
	if err != nil && n < h {
		c.heldErr = err
	}
	return max(n-h, 0), err
}

// release sends held bytes that no write followed within maxHold.
func (c *Conn) release() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.held) == 0 {
		return
	}
	if _, err := c.writeLocked(c.held); err != nil {
		c.heldErr = err
	}
	c.held = c.held[:0]
}

// Coalesce asks c to hold its next write, up to a millisecond, and send
// it in one system call with the write after it. HTTP/2 flushes a
// response's HEADERS frame on its own before the DATA that the handler
// already has: a caller that knows a write follows at once saves a
// system call, and the peer a wake-up, per response.
func (c *Conn) Coalesce() { c.holdNext.Store(true) }

// Close sends what is held, if the socket takes it at once, and closes
// the connection. It does not wait for a write in progress: closing is
// how a stuck write is ended.
func (c *Conn) Close() error {
	if c.wmu.TryLock() {
		if len(c.held) > 0 {
			c.holdTimer.Stop()
			p := c.held
			_ = c.raw.Write(func(fd uintptr) bool {
				_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
				return true // once, without waiting
			})
		}
		c.held = nil
		c.wmu.Unlock()
	}
	return c.TCPConn.Close()
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
