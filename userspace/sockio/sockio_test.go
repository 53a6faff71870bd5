package sockio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns a wrapped client connection and the server end it talks to.
func pair(t *testing.T) (net.Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	w := Wrap(c)
	t.Cleanup(func() { w.Close(); peer.Close() })
	return w, peer.(*net.TCPConn)
}

func TestWrap(t *testing.T) {
	w, _ := pair(t)
	if runtime.GOOS == "linux" {
		if _, ok := w.(*Conn); !ok {
			t.Fatalf("Wrap(*net.TCPConn) = %T, want *Conn", w)
		}
	}
	if _, ok := Unwrap(w).(*net.TCPConn); !ok {
		t.Fatalf("Unwrap = %T, want *net.TCPConn", Unwrap(w))
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a || Unwrap(a) != a {
		t.Fatal("a connection that is not TCP must pass through unchanged")
	}
}

func TestReadWrite(t *testing.T) {
	w, peer := pair(t)
	// 8 MiB is far more than the socket buffers hold, so the writer
	// meets EAGAIN and waits on the poller while the peer reads slowly.
	want := bytes.Repeat([]byte("0123456789abcdef"), 512<<10)
	errc := make(chan error, 1)
	go func() {
		n, err := w.Write(want)
		if err == nil && n != len(want) {
			err = errors.New("short write")
		}
		errc <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	for len(got) < len(want) {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("peer read: %v", err)
		}
		got = append(got, buf[:n]...)
		if len(got) < 64<<10 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("peer received different bytes")
	}

	// The other direction, then the end of the stream.
	go func() {
		_, _ = peer.Write(want[:100000])
		_ = peer.CloseWrite()
	}()
	back, err := io.ReadAll(w)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if !bytes.Equal(back, want[:100000]) {
		t.Fatalf("read %d bytes, want the 100000 sent", len(back))
	}
	if n, err := w.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := w.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
}

func TestConcurrentReadAndWrite(t *testing.T) {
	w, peer := pair(t)
	go func() { _, _ = io.Copy(peer, peer) }() // echo
	const total = 1 << 20
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := bytes.Repeat([]byte{'x'}, 1000)
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), total-sent)]); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
		}
	}()
	n, err := io.CopyN(io.Discard, w, total)
	if err != nil || n != total {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	wg.Wait()
}

func TestDeadlines(t *testing.T) {
	w, _ := pair(t)
	if err := w.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := w.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v; want a timeout net.Error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the read deadline did not end the read")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("error %#v is not a read *net.OpError", err)
	}

	// A peer that never reads: the write fills the buffers, then times out
	// having written part.
	if err := w.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline = %d, %v; want a deadline error", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write past the deadline wrote %d bytes, want some but not all", n)
	}
}

func TestClosedAndReset(t *testing.T) {
	w, peer := pair(t)
	// The peer resets the connection: it closes with unread input.
	if _, err := w.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	_ = peer.SetLinger(0)
	_ = peer.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(bytes.Repeat([]byte{'x'}, 64<<10))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to a reset connection = %v; want ECONNRESET or EPIPE", err)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "write" {
		t.Fatalf("error %v does not name the write system call", err)
	}

	_ = w.Close()
	if _, err := w.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v; want net.ErrClosed", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v; want net.ErrClosed", err)
	}
}

func TestNoAllocations(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw I/O is Linux only")
	}
	w, peer := pair(t)
	msg := []byte("ping")
	buf := make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(w, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a write and a read allocate %.1f times, want 0", allocs)
	}
}

func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := Dial(&net.Dialer{})(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Conn); runtime.GOOS == "linux" && !ok {
		t.Fatalf("Dial gave %T, want *Conn", c)
	}
	if b, err := io.ReadAll(c); err != nil || string(b) != "hi" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := Dial(&net.Dialer{})(context.Background(), "tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("dialing a closed port succeeded")
	}
}

// TestBlockingSocketIsNotWrapped: a socket someone put in blocking mode
// keeps net's path, where a read that blocks gives up its P.
func TestBlockingSocketIsNotWrapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw I/O is Linux only")
	}
	w, _ := pair(t)
	tcp := Unwrap(w).(*net.TCPConn)
	raw, err := tcp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), false) }); err != nil {
		t.Fatal(err)
	}
	if Wrap(tcp) != net.Conn(tcp) {
		t.Fatal("a blocking socket was wrapped")
	}
}

// TestConcurrentReaders: net.Conn lets several goroutines read (and
// write) at once; every byte arrives exactly once.
func TestConcurrentReaders(t *testing.T) {
	w, peer := pair(t)
	const writers, each = 4, 1000
	go func() {
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, _ = w.Write([]byte{byte('a' + i)})
				}
			}()
		}
		wg.Wait()
	}()
	go func() { _, _ = io.Copy(peer, peer) }() // echo
	var mu sync.Mutex
	counts := map[byte]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 7)
			for {
				_ = w.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := w.Read(buf)
				mu.Lock()
				for _, b := range buf[:n] {
					counts[b]++
				}
				total := 0
				for _, v := range counts {
					total += v
				}
				mu.Unlock()
				if total == writers*each {
					w.Close() // ends the other readers' waits
				}
				if err != nil || total == writers*each {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range writers {
		if got := counts[byte('a'+i)]; got != each {
			t.Errorf("writer %c: %d bytes came back, want %d", 'a'+i, got, each)
		}
	}
}
