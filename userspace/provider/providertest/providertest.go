// Package providertest runs golden-file cases against provider translators, so
// every client-API × provider-API pair is tested the same way: request in →
// upstream request out, upstream body in → client body out, recorded SSE
// stream in → client stream out, provider error in → client error out.
//
// A case is one file of "-- name --" sections. Inputs: meta (JSON: api,
// model, upstream_model, stream, include_usage, header), request, and
// optionally response, stream and error ("STATUS\nBODY"). Outputs, rewritten
// by `go test -update`: upstream.golden, and response.golden, stream.golden,
// error.golden for the inputs present. Each output section is produced by a
// fresh translator, as the attempt loop creates one per attempt.
//
// It also checks client streams against their protocol (OpenAIStream,
// AnthropicStream) and runs tool loops over real HTTP (Loop, LoopWith).
package providertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/sse"
)

// New is a provider package's translator constructor.
type New func(client provider.API) (provider.Translator, error)

// Meta is the meta section of a case.
type Meta struct {
	API           provider.API `json:"api"`
	Model         string       `json:"model"`
	UpstreamModel string       `json:"upstream_model"`
	Stream        bool         `json:"stream"`
	IncludeUsage  bool         `json:"include_usage"`
	Header        http.Header  `json:"header"`
}

// Case is a parsed case file.
type Case struct {
	Path     string
	Names    []string
	Sections map[string][]byte
}

// Parse reads a case file.
func Parse(path string) (*Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read case: %w", err)
	}
	c := &Case{Path: path, Sections: map[string][]byte{}}
	name := ""
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		t := bytes.TrimRight(line, "\n")
		if bytes.HasPrefix(t, []byte("-- ")) && bytes.HasSuffix(t, []byte(" --")) && len(t) > 6 {
			name = string(t[3 : len(t)-3])
			c.Names = append(c.Names, name)
			c.Sections[name] = []byte{}
			continue
		}
		if name == "" {
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%s: text before the first section", path)
			}
			continue
		}
		c.Sections[name] = append(c.Sections[name], line...)
	}
	return c, nil
}

// Request builds the provider.Request of the case.
func (c *Case) Request() (*provider.Request, Meta, error) {
	var m Meta
	if err := json.Unmarshal(c.Sections["meta"], &m); err != nil {
		return nil, m, fmt.Errorf("%s: meta: %w", c.Path, err)
	}
	body := bytes.TrimRight(c.Sections["request"], "\n")
	h := m.Header
	if h == nil {
		h = http.Header{}
	}
	return &provider.Request{API: m.API, Body: body, Model: m.Model, Stream: m.Stream, IncludeUsage: m.IncludeUsage, Header: h}, m, nil
}

// Run runs every *.txt case under dir as a subtest.
func Run(t *testing.T, dir string, newT New) { run(t, dir, newT, false) }

// RunChecked is Run that also requires every cleanly ended chat or Messages
// client stream to follow its protocol (OpenAIStream, AnthropicStream).
func RunChecked(t *testing.T, dir string, newT New) { run(t, dir, newT, true) }

func run(t *testing.T, dir string, newT New, checked bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in %s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			c, err := Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			got := c.outputs(t, newT, checked)
			c.check(t, got)
		})
	}
}

// Outputs computes every output section of the case.
func (c *Case) Outputs(t testing.TB, newT New) map[string][]byte { return c.outputs(t, newT, false) }

func (c *Case) outputs(t testing.TB, newT New, checked bool) map[string][]byte {
	t.Helper()
	req, m, err := c.Request()
	if err != nil {
		t.Fatal(err)
	}
	body := slices.Clone(req.Body)
	fresh := func() provider.Translator {
		tr, err := newT(req.API)
		if err != nil {
			t.Fatalf("new translator: %v", err)
		}
		return tr
	}
	out := map[string][]byte{}
	tr := fresh()
	up, err := tr.Request(req, m.UpstreamModel)
	if !bytes.Equal(body, req.Body) {
		t.Fatalf("Request mutated the client body")
	}
	if err != nil {
		out["upstream.golden"] = []byte(describeErr(err) + "\n")
		return out
	}
	out["upstream.golden"] = FormatUpstream(up)
	// Request is idempotent: a second translator builds the same request.
	up2, err := fresh().Request(req, m.UpstreamModel)
	if err != nil || !bytes.Equal(FormatUpstream(up2), out["upstream.golden"]) {
		t.Fatalf("a second Request differs: %v", err)
	}
	if in, ok := c.Sections["response"]; ok {
		tr := fresh()
		if _, err := tr.Request(req, m.UpstreamModel); err != nil {
			t.Fatal(err)
		}
		b, u, err := tr.Response(bytes.TrimRight(in, "\n"))
		var w bytes.Buffer
		if err != nil {
			w.WriteString(describeErr(err) + "\n")
		} else {
			w.Write(indent(b))
			fmt.Fprintf(&w, "usage: %s\n", usageJSON(u))
		}
		out["response.golden"] = w.Bytes()
	}
	if in, ok := c.Sections["stream"]; ok {
		tr := fresh()
		if _, err := tr.Request(req, m.UpstreamModel); err != nil {
			t.Fatal(err)
		}
		transcript, client, clean := stream(tr, in)
		out["stream.golden"] = transcript
		if checked && clean {
			var err error
			switch req.API {
			case provider.AnthropicMessages:
				_, err = AnthropicStream(client)
			case provider.OpenAIChat:
				_, err = OpenAIStream(client)
			}
			if err != nil {
				t.Errorf("client stream breaks the %s protocol: %v", req.API, err)
			}
		}
	}
	if in, ok := c.Sections["error"]; ok {
		tr := fresh()
		if _, err := tr.Request(req, m.UpstreamModel); err != nil {
			t.Fatal(err)
		}
		line, rest, _ := bytes.Cut(in, []byte("\n"))
		status, err := strconv.Atoi(string(bytes.TrimSpace(line)))
		if err != nil {
			t.Fatalf("error section: first line must be the status: %v", err)
		}
		out["error.golden"] = indent(tr.Error(status, bytes.TrimRight(rest, "\n")))
	}
	return out
}

// Stream feeds a recorded SSE stream to tr and returns a transcript: each
// upstream event, whether its chunk carries content, the chunk, and the end
// (or the error and the client error event StreamError renders for it).
func Stream(tr provider.Translator, in []byte) []byte {
	t, _, _ := stream(tr, in)
	return t
}

// stream also returns what the client received and whether the stream
// ended cleanly.
func stream(tr provider.Translator, in []byte) (transcript, client []byte, clean bool) {
	var w bytes.Buffer
	rd := sse.NewReader(bytes.NewReader(in))
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			tail, err := tr.StreamEnd()
			if err != nil {
				fmt.Fprintf(&w, "== end: %s\n", describeErr(err))
				writeStreamError(&w, tr, err)
			} else {
				fmt.Fprintf(&w, "== end\n%s", tail)
				client = append(client, tail...)
				clean = true
			}
			break
		}
		if err != nil {
			fmt.Fprintf(&w, "== read error: %v\n", err)
			break
		}
		name := ev.Event
		if name == "" {
			name = "message"
		}
		ch, err := tr.StreamEvent(ev)
		if err != nil {
			fmt.Fprintf(&w, "== %s: %s\n", name, describeErr(err))
			writeStreamError(&w, tr, err)
			break
		}
		kind := "held"
		if ch.Content {
			kind = "content"
		}
		fmt.Fprintf(&w, "== %s → %s\n%s", name, kind, ch.Data)
		client = append(client, ch.Data...)
	}
	fmt.Fprintf(&w, "== usage: %s\n", usageJSON(tr.Usage()))
	return w.Bytes(), client, clean
}

func writeStreamError(w *bytes.Buffer, tr provider.Translator, err error) {
	status, msg := http.StatusBadGateway, err.Error()
	var ue *provider.UpstreamError
	if errors.As(err, &ue) {
		if ue.Status != 0 {
			status = ue.Status
		}
		msg = ue.Message
	}
	fmt.Fprintf(w, "== client error event\n%s", tr.StreamError(status, msg))
}

func describeErr(err error) string {
	return fmt.Sprintf("error %T: %v", err, err)
}

func usageJSON(u provider.Usage) string {
	b, _ := json.Marshal(u)
	return string(b)
}

// FormatUpstream renders an upstream request: method, path and query,
// sorted headers, a blank line and the indented body.
func FormatUpstream(up *provider.Upstream) []byte {
	var w bytes.Buffer
	w.WriteString(up.Method + " " + up.Path)
	if up.Query != "" {
		w.WriteString("?" + up.Query)
	}
	w.WriteString("\n")
	keys := make([]string, 0, len(up.Header))
	for k := range up.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&w, "%s: %s\n", k, strings.Join(up.Header[k], ", "))
	}
	w.WriteString("\n")
	w.Write(indent(up.Body))
	return w.Bytes()
}

// indent pretty-prints JSON (keys and values unchanged) and returns other
// bytes as they are, newline-terminated.
func indent(b []byte) []byte {
	var w bytes.Buffer
	if json.Indent(&w, b, "", "  ") != nil {
		w.Reset()
		w.Write(b)
	}
	if w.Len() == 0 || w.Bytes()[w.Len()-1] != '\n' {
		w.WriteByte('\n')
	}
	return w.Bytes()
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// check compares the outputs with the golden sections, or rewrites the case
// file with them under -update.
func (c *Case) check(t *testing.T, got map[string][]byte) {
	t.Helper()
	if updating() {
		var w bytes.Buffer
		for _, n := range c.Names {
			if strings.HasSuffix(n, ".golden") {
				continue
			}
			fmt.Fprintf(&w, "-- %s --\n", n)
			w.Write(c.Sections[n])
		}
		for _, n := range []string{"upstream.golden", "response.golden", "stream.golden", "error.golden"} {
			if b, ok := got[n]; ok {
				fmt.Fprintf(&w, "-- %s --\n", n)
				w.Write(b)
			}
		}
		if err := os.WriteFile(c.Path, w.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for n, b := range got {
		want, ok := c.Sections[n]
		if !ok {
			t.Errorf("section %s missing: run go test -update", n)
			continue
		}
		if !bytes.Equal(want, b) {
			t.Errorf("%s differs\n--- got\n%s\n--- want\n%s", n, b, want)
		}
	}
	for _, n := range c.Names {
		if _, ok := got[n]; strings.HasSuffix(n, ".golden") && !ok {
			t.Errorf("stale section %s: its input is gone", n)
		}
	}
}
