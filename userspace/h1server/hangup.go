package h1server

import (
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

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
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
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
	ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	if err := c.tcp.Control(func(fd uintptr) { cerr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || cerr != nil {
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
	_ = c.tcp.Control(func(fd uintptr) { _ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

func (w *hangupWatcher) loop() {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err == unix.EINTR {
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
