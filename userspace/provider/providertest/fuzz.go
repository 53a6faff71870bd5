package providertest

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/sse"
)

// Fuzz is a fuzz target for one pair: it feeds arbitrary bytes as the client
// body (kind 0), the upstream body (kind 1) or the upstream SSE stream (kind
// 2) and requires that nothing panics and a request that translates once
// translates the same way again. The cases in dir whose meta names api seed it.
func Fuzz(f *testing.F, dir string, newT New, api provider.API) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	var valid []byte
	for _, file := range files {
		c, err := Parse(file)
		if err != nil {
			f.Fatal(err)
		}
		req, _, err := c.Request()
		if err != nil || req.API != api {
			continue
		}
		f.Add(uint8(0), req.Body)
		if valid == nil {
			if tr, _ := newT(api); tr != nil {
				if _, err := tr.Request(req, "m"); err == nil {
					valid = req.Body
				}
			}
		}
		if b, ok := c.Sections["response"]; ok {
			f.Add(uint8(1), b)
		}
		if b, ok := c.Sections["stream"]; ok {
			f.Add(uint8(2), b)
		}
	}
	if valid == nil {
		f.Fatalf("no case in %s translates for %s", dir, api)
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		tr, err := newT(api)
		if err != nil {
			t.Fatal(err)
		}
		body := valid
		if kind%3 == 0 {
			body = data
		}
		req := &provider.Request{API: api, Body: body, Model: "alias", Stream: kind%3 == 2, IncludeUsage: true}
		up, err := tr.Request(req, "m")
		if kind%3 == 0 {
			if err == nil {
				tr2, _ := newT(api)
				up2, err2 := tr2.Request(req, "m")
				if err2 != nil || !bytes.Equal(up.Body, up2.Body) {
					t.Fatalf("second translation differs: %v", err2)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("seed request stopped translating: %v", err)
		}
		switch kind % 3 {
		case 1:
			_, _, _ = tr.Response(data)
		case 2:
			rd := sse.NewReader(bytes.NewReader(data))
			for range 10000 {
				ev, err := rd.Next()
				if err == io.EOF {
					_, _ = tr.StreamEnd()
					break
				}
				if err != nil {
					break
				}
				if _, err := tr.StreamEvent(ev); err != nil {
					break
				}
			}
		}
		_ = tr.Usage()
		_ = tr.StreamError(502, string(data))
		_ = tr.Error(400, data)
	})
}

// Benchmark measures the hot paths of one case: translating the request,
// the upstream body, and the events of the recorded stream (ns/event
// excludes creating the translator and its request).
func Benchmark(b *testing.B, path string, newT New) {
	c, err := Parse(path)
	if err != nil {
		b.Fatal(err)
	}
	req, m, err := c.Request()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr, _ := newT(req.API)
			if _, err := tr.Request(req, m.UpstreamModel); err != nil {
				b.Fatal(err)
			}
		}
	})
	if in, ok := c.Sections["response"]; ok {
		b.Run("response", func(b *testing.B) {
			b.ReportAllocs()
			tr, _ := newT(req.API)
			_, _ = tr.Request(req, m.UpstreamModel)
			for b.Loop() {
				if _, _, err := tr.Response(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if in, ok := c.Sections["stream"]; ok {
		var evs []sse.Event
		rd := sse.NewReader(bytes.NewReader(in))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			evs = append(evs, ev)
		}
		b.Run("stream_event", func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				tr, _ := newT(req.API)
				_, _ = tr.Request(req, m.UpstreamModel)
				b.StartTimer()
				for _, ev := range evs {
					if _, err := tr.StreamEvent(ev); err != nil {
						b.Fatal(err)
					}
				}
				n += len(evs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(n, 1)), "ns/event")
		})
	}
}
