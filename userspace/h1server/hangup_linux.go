package h1server

import (
	"io"
	"log/slog"
	"sync"
	"syscall"
)

// canPeek says peekSocket works here, so a plain connection can give its
// read buffer back while idle.
const canPeek = true

// epollET is EPOLLET as the uint32 EpollEvent.Events wants (package
// syscall declares it negative).
const epollET = 1 << 31

// hangupWatcher notices clients that close their side of a connection
// while a request runs, so the request's context can be cancelled (and
// the upstream call with it). net/http keeps a goroutine per request
// blocked in a read for this; here one epoll set for the whole process
// waits for EPOLLRDHUP (and the always-reported EPOLLHUP/EPOLLERR) on
// every connection, registered once per connection, edge-triggered, and
// never for readable data.
type hangupWatcher struct {
	epfd  int
	mu    sync.Mutex
	conns map[uint64]*conn
	next  uint64
}

// watcher returns the process's watcher; nil (no hang-up detection) if
// epoll cannot be set up.
var watcher = sync.OnceValue(func() *hangupWatcher {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		slog.Default().Warn("h1server: no epoll; client hang-ups are noticed only when writing", "err", err)
		return nil
	}
	w := &hangupWatcher{epfd: epfd, conns: make(map[uint64]*conn)}
	go w.loop()
	return w
})

func (w *hangupWatcher) add(c *conn) {
	if w == nil || c.tcp == nil {
		return
	}
	w.mu.Lock()
	w.next++
	id := w.next
	w.conns[id] = c
	w.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | epollET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	if err := c.tcp.Control(func(fd uintptr) { cerr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || cerr != nil {
		w.mu.Lock()
		delete(w.conns, id)
		w.mu.Unlock()
		return
	}
	c.watchID = id
}

func (w *hangupWatcher) remove(c *conn) {
	if w == nil || c.watchID == 0 {
		return
	}
	w.mu.Lock()
	delete(w.conns, c.watchID)
	w.mu.Unlock()
	c.watchID = 0
	_ = c.tcp.Control(func(fd uintptr) { _ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), &syscall.EpollEvent{}) })
}

func (w *hangupWatcher) loop() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			slog.Default().Error("h1server: epoll wait failed; client hang-ups are noticed only when writing", "err", err)
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			w.mu.Lock()
			c := w.conns[id]
			w.mu.Unlock()
			if c != nil {
				c.hangUp()
			}
		}
	}
}

// peekSocket waits until the socket has a byte to read (or an error or
// end of stream to report), honouring the read deadline, without reading.
func peekSocket(raw syscall.RawConn) error {
	var perr error
	err := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				perr = err
			case n == 0:
				perr = io.EOF
			}
			return true
		}
	})
	if err != nil {
		return err
	}
	return perr
}
