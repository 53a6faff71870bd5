// Package offline is the provider type "offline": an in-process canned model
// that speaks the OpenAI wire format, so weir answers on a first run with no
// API key and no network. It is a toy, not a language model: it says it is
// weir's offline model and echoes (the start of) the last user message.
//
// Transport answers the HTTP requests weir would send to an OpenAI-compatible
// server, at any host and under any base path: POST .../chat/completions,
// .../completions, .../embeddings, .../responses (each non-streaming and, but
// for embeddings, SSE streaming) and GET .../models. Anything else is a 404
// with an OpenAI error body.
//
// Everything is deterministic except "created" timestamps and stream pacing.
// Token counts use a documented heuristic, not a tokenizer: a text counts
// ceil(bytes/4) tokens (about 4 characters per token for English), a chat
// message adds 3 tokens of framing, a prompt given as token ids counts one
// per id. The reply is cut at a word boundary to max_tokens /
// max_completion_tokens / max_output_tokens, with finish reason "length".
package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/provider/openai"
	schema "github.com/weir-gateway/weir/userspace/schema/openai"
)

// DefaultChunkDelay is the pause between stream events of Transport.
const DefaultChunkDelay = 15 * time.Millisecond

// maxBody bounds a request body read by the model.
const maxBody = 32 << 20

// Transport is the offline model with the default pacing; the agent uses it
// as the http.RoundTripper of every offline provider.
var Transport http.RoundTripper = &Model{ChunkDelay: DefaultChunkDelay}

// Model is the offline model as an http.RoundTripper.
type Model struct {
	// ChunkDelay is the pause before each stream event after the first;
	// zero sends them back to back.
	ChunkDelay time.Duration
}

var _ http.RoundTripper = (*Model)(nil)

// New creates the translator of one attempt to the offline model: the
// openai package's, since the model speaks the OpenAI wire format.
func New(client provider.API) (provider.Translator, error) {
	tr, err := openai.New(client)
	var ue *provider.UnsupportedError
	if errors.As(err, &ue) {
		return nil, &provider.UnsupportedError{Feature: ue.Feature, Provider: "offline"}
	}
	return tr, err
}

// apiError is an answer with an OpenAI error body.
type apiError struct {
	status int
	msg    string
	param  string
}

// RoundTrip implements http.RoundTripper. Like any transport it always
// closes the request body; the stream ends early when the request's context
// is cancelled or the response body is closed.
func (m *Model) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	var readErr error
	if req.Body != nil {
		body, readErr = io.ReadAll(io.LimitReader(req.Body, maxBody+1))
		req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, fmt.Errorf("offline: read request body: %w", readErr)
	}
	resp, aerr := m.serve(req, body)
	if aerr != nil {
		e := schema.ErrorResponse{Error: schema.Error{Message: aerr.msg, Type: schema.ErrorType(aerr.status)}}
		if aerr.param != "" {
			e.Error.Param = &aerr.param
		}
		if aerr.status == http.StatusNotFound {
			e.Error.Code = "unknown_url"
		}
		b, _ := json.Marshal(e)
		return response(req, aerr.status, "application/json", bytes.NewReader(b), int64(len(b))), nil
	}
	return resp, nil
}

// endpoint matches the last path segments, so any base path works.
func endpoint(path string) string {
	path = strings.TrimSuffix(path, "/")
	for _, e := range []string{"/chat/completions", "/completions", "/embeddings", "/responses", "/models"} {
		if strings.HasSuffix(path, e) {
			return e
		}
	}
	return ""
}

func (m *Model) serve(req *http.Request, body []byte) (*http.Response, *apiError) {
	ep := endpoint(req.URL.Path)
	if ep == "" {
		return nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("Invalid URL (%s %s): the offline model serves /chat/completions, /completions, /embeddings, /responses and /models", req.Method, req.URL.Path)}
	}
	if ep == "/models" {
		if req.Method != http.MethodGet {
			return nil, &apiError{status: http.StatusMethodNotAllowed, msg: "method " + req.Method + " not allowed on /models: use GET"}
		}
		b, _ := json.Marshal(schema.ModelList{Object: "list", Data: []schema.Model{{ID: ModelID, Object: "model", Created: 1700000000, OwnedBy: "weir"}}})
		return response(req, http.StatusOK, "application/json", bytes.NewReader(b), int64(len(b))), nil
	}
	if req.Method != http.MethodPost {
		return nil, &apiError{status: http.StatusMethodNotAllowed, msg: "method " + req.Method + " not allowed on " + ep + ": use POST"}
	}
	if len(body) > maxBody {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body over %d bytes", maxBody)}
	}
	if !json.Valid(body) || len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return nil, &apiError{status: http.StatusBadRequest, msg: "request body must be a JSON object"}
	}
	id := idOf(body)
	switch ep {
	case "/chat/completions":
		return m.chat(req, body, id)
	case "/completions":
		return m.completions(req, body, id)
	case "/embeddings":
		return embeddings(req, body)
	}
	return m.responses(req, body, id)
}

// ModelID is the model the offline provider lists; it answers to any name.
const ModelID = "weir-offline"

// idOf derives a stable id from the request body.
func idOf(body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return strconv.FormatUint(h.Sum64(), 36)
}

// response builds an *http.Response around body.
func response(req *http.Request, status int, contentType string, body io.Reader, n int64) *http.Response {
	rc, ok := body.(io.ReadCloser)
	if !ok {
		rc = io.NopCloser(body)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {contentType}, "X-Weir-Offline": {"1"}},
		Body:          rc,
		ContentLength: n,
		Request:       req,
	}
}

// jsonResponse answers v as a 200 JSON body.
func jsonResponse(req *http.Request, v any) *http.Response {
	b, _ := json.Marshal(v)
	return response(req, http.StatusOK, "application/json", bytes.NewReader(b), int64(len(b)))
}

// stream answers the pre-framed SSE events, paced by ChunkDelay, from a
// goroutine that stops when the context is cancelled or the body closed.
func (m *Model) stream(req *http.Request, events [][]byte) *http.Response {
	pr, pw := io.Pipe()
	ctx := req.Context()
	// Cancellation must also free a goroutine blocked in Write on a body
	// nobody reads, and make reads fail with the context's error, as a
	// network transport's body does.
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	go func() {
		defer stop()
		var timer *time.Timer
		for i, ev := range events {
			if i > 0 && m.ChunkDelay > 0 {
				if timer == nil {
					timer = time.NewTimer(m.ChunkDelay)
					defer timer.Stop()
				} else {
					timer.Reset(m.ChunkDelay)
				}
				select {
				case <-ctx.Done():
					pw.CloseWithError(ctx.Err())
					return
				case <-timer.C:
				}
			}
			if _, err := pw.Write(ev); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp := response(req, http.StatusOK, "text/event-stream", pr, -1)
	resp.Header.Set("Cache-Control", "no-cache")
	return resp
}

// now is the clock of "created" fields; tests replace it.
var now = time.Now
