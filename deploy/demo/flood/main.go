// Command flood opens TCP connections to a target as fast as its workers
// can, for a bounded time, and prints one line of totals per second: the
// "noisy tenant" of make demo. Each connection is closed at once.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("target", "", "host:port to connect to")
	workers := flag.Int("workers", 64, "concurrent dialers")
	duration := flag.Duration("duration", 10*time.Second, "how long to flood (at most 5m)")
	timeout := flag.Duration("timeout", 200*time.Millisecond, "per-connection dial timeout")
	flag.Parse()
	if *target == "" || *workers < 1 || *duration <= 0 || *duration > 5*time.Minute || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "usage: flood -target HOST:PORT [-workers N] [-duration D<=5m] [-timeout D]")
		os.Exit(2)
	}
	start := time.Now()
	end := start.Add(*duration)
	var attempts, connected, timedOut atomic.Int64
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  = map[string]int{}
	)
	for range *workers {
		wg.Go(func() {
			for {
				// Each dial gets the full timeout, so a worker never
				// spins on an already expired deadline at the end.
				if time.Until(end) < *timeout {
					return
				}
				attempts.Add(1)
				c, err := net.DialTimeout("tcp", *target, *timeout)
				switch {
				case err == nil:
					connected.Add(1)
					c.Close()
				case isTimeout(err):
					timedOut.Add(1) // SYN dropped (by the guard)
				default:
					errMu.Lock()
					errs[err.Error()]++
					errMu.Unlock()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			for e, n := range errs {
				fmt.Printf("flood error x%d: %s\n", n, e)
			}
			fmt.Printf("flood done: %d attempts, %d connected, %d timed out in %.1fs\n",
				attempts.Load(), connected.Load(), timedOut.Load(), time.Since(start).Seconds())
			return
		case <-tick.C:
			fmt.Printf("flood: %d attempts, %d connected, %d timed out\n", attempts.Load(), connected.Load(), timedOut.Load())
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
