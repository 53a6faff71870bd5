package sockio

import (
	"io"
	"net"
	"testing"
)

// BenchmarkPingPong sends 64 bytes and reads 64 back over loopback TCP, the
// client side through net's own Read and Write ("net") or through Wrap
// ("sockio"); the peer echoes with net. Run side by side, the difference is
// the runtime's syscall bookkeeping the raw calls skip (and, when the
// process goes idle between calls, the sysmon wake-ups they avoid).
func BenchmarkPingPong(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"net", func(c net.Conn) net.Conn { return c }},
		{"sockio", Wrap},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
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
