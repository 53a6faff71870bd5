package sockio

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the echo peer of
// BenchmarkPingPong in a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("SOCKIO_ECHO_PEER") == "1" {
		echoPeer()
		return
	}
	os.Exit(m.Run())
}

// echoPeer prints its address, then echoes one connection until it ends.
func echoPeer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	os.Stdout.WriteString(ln.Addr().String() + "\n")
	c, err := ln.Accept()
	if err != nil {
		os.Exit(1)
	}
	_, _ = io.Copy(c, c)
}

// BenchmarkPingPong sends 64 bytes to an echo peer in another process and
// reads them back, through net's own Read and Write ("net") or through
// Wrap ("sockio"). While the peer answers this process has nothing to
// run, as a proxy waiting on its client or upstream has not, so each
// round trip includes what going idle and waking costs each way; pin it
// to one CPU (taskset -c 1) to see what that costs a pinned weir.
func BenchmarkPingPong(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"net", func(c net.Conn) net.Conn { return c }},
		{"sockio", Wrap},
	} {
		b.Run(tc.name, func(b *testing.B) {
			peer := exec.Command(os.Args[0], "-test.run=^$")
			peer.Env = append(os.Environ(), "SOCKIO_ECHO_PEER=1")
			out, err := peer.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := peer.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = peer.Process.Kill(); _ = peer.Wait() }()
			addr, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				b.Fatalf("echo peer: %v", err)
			}
			raw, err := net.Dial("tcp", strings.TrimSpace(addr))
			if err != nil {
				b.Fatal(err)
			}
			c := tc.wrap(raw)
			defer c.Close()
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
