package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/bench/procstat"
)

// IdleRun is the memory cost of many open, idle streams on one system.
type IdleRun struct {
	System  string `json:"system"`
	Streams int    `json:"streams"`
	// Opened is how many streams delivered their first chunk and stayed open.
	Opened int `json:"opened"`
	// Before and After are the system's process tree with no stream and with
	// every stream open.
	Before procstat.Usage `json:"before"`
	After  procstat.Usage `json:"after"`
	// Goroutines before and after, when the system exports go_goroutines.
	GoroutinesBefore int    `json:"goroutines_before,omitempty"`
	GoroutinesAfter  int    `json:"goroutines_after,omitempty"`
	Error            string `json:"error,omitempty"`
}

// BytesPerStream is the RSS growth divided by the open streams.
func (r *IdleRun) BytesPerStream() float64 {
	if r.Opened == 0 {
		return 0
	}
	return float64(r.After.RSS-r.Before.RSS) / float64(r.Opened)
}

// GoroutinesPerStream is the goroutine growth divided by the open streams.
func (r *IdleRun) GoroutinesPerStream() float64 {
	if r.Opened == 0 || r.GoroutinesAfter == 0 {
		return 0
	}
	return float64(r.GoroutinesAfter-r.GoroutinesBefore) / float64(r.Opened)
}

// setMockDefault sets (spec) or clears ("") the mock's default fault.
func setMockDefault(ctx context.Context, mockURL, spec string) error {
	body := fmt.Sprintf(`{"default":%q}`, spec)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mockURL+"/_mock/faults", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("mock faults: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("mock faults: status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// goroutines reads go_goroutines from a Prometheus endpoint (0 if absent).
func goroutines(metricsURL string) int {
	if metricsURL == "" {
		return 0
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(metricsURL)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	return 0
}

// IdleStreams opens n streaming requests through the system while the mock
// holds each after its first content chunk (a default hang-after:1 fault),
// and measures what they cost the system. The fault is cleared at the end.
func IdleStreams(ctx context.Context, sys *System, mockURL string, n int) *IdleRun {
	run := &IdleRun{System: sys.Name, Streams: n}
	fail := func(err error) *IdleRun {
		run.Error = err.Error()
		return run
	}
	settle := func() { time.Sleep(300 * time.Millisecond) }
	settle()
	var err error
	if run.Before, err = procstat.ReadTree(sys.Proc.PID); err != nil {
		return fail(err)
	}
	run.GoroutinesBefore = goroutines(sys.MetricsURL)
	if err := setMockDefault(ctx, mockURL, "hang-after:1"); err != nil {
		return fail(err)
	}
	defer func() { _ = setMockDefault(context.Background(), mockURL, "") }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression: true,
		MaxIdleConns:       -1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := Scenario{Stream: true, Words: 20}.Body()
	header := sys.headers()
	var opened atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var open, held sync.WaitGroup
	slots := make(chan struct{}, 128) // bounds connection attempts in flight
	for range n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		open.Add(1)
		held.Go(func() {
			released := false
			release := func() {
				if !released {
					released = true
					<-slots
					open.Done()
				}
			}
			defer release()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.URL+"/v1/chat/completions", bytes.NewReader(body))
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			req.Header = header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errOnce.Do(func() { firstErr = fmt.Errorf("status %d", resp.StatusCode) })
				return
			}
			if err := waitFirstContent(resp.Body); err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			opened.Add(1)
			release()
			_, _ = io.Copy(io.Discard, resp.Body) // held until cancel
		})
	}
	open.Wait()
	run.Opened = int(opened.Load())
	settle()
	run.After, err = procstat.ReadTree(sys.Proc.PID)
	run.GoroutinesAfter = goroutines(sys.MetricsURL)
	cancel()
	held.Wait()
	switch {
	case err != nil:
		run.Error = err.Error()
	case firstErr != nil:
		run.Error = fmt.Sprintf("%d of %d streams failed to open; first error: %v", n-run.Opened, n, firstErr)
	}
	return run
}

// waitFirstContent reads an SSE body until the first content chunk ("mock").
func waitFirstContent(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadSlice('\n')
		if bytes.Contains(line, []byte(`"mock"`)) {
			return nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("stream ended before its first chunk: %w", err)
		}
	}
}
