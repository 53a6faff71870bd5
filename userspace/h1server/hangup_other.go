//go:build !linux

package h1server

import (
	"errors"
	"syscall"
)

// canPeek is false: connections keep their read buffer while idle.
const canPeek = false

// hangupWatcher is Linux's (epoll); elsewhere a client that hangs up is
// noticed when a write to it fails.
type hangupWatcher struct{}

func watcher() *hangupWatcher { return nil }

func (w *hangupWatcher) add(*conn)    {}
func (w *hangupWatcher) remove(*conn) {}

func peekSocket(syscall.RawConn) error { return errors.New("h1server: peek not supported") }
