package ratelimit

import (
	"context"
	"runtime"
	"testing"

	"github.com/weir-gateway/weir/userspace/ratelimit/redistest"
	"github.com/weir-gateway/weir/userspace/sockio"
)

// TestRedisDialsRawSockets: the limiter's Redis connections do raw socket
// I/O (package sockio) and still serve commands.
func TestRedisDialsRawSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw socket I/O is Linux only")
	}
	srv := redistest.Start(t)
	l := newRedisLimiter(t, srv.Addr, uniquePrefix(t), OnErrorDeny)
	c, err := l.rdb.Options().Dialer(context.Background(), "tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*sockio.Conn); !ok {
		t.Fatalf("the Redis dialer gives %T, want *sockio.Conn", c)
	}
	if err := l.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING over raw sockets: %v", err)
	}
}
