// Package proxy is weir's request pipeline: parse → authenticate → admit →
// route → attempt loop (translate → upstream → stream → usage) → settle →
// metrics and access log. A request loads the current snapshot once and keeps
// it to the end, so a reload never changes a request in flight.
package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/weir-gateway/weir/userspace/metrics"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/schema/jsonscan"
	"github.com/weir-gateway/weir/userspace/schema/openai"
	"github.com/weir-gateway/weir/userspace/snapshot"
)

// Handler serves the AI routes.
type Handler struct {
	Store   *snapshot.Store
	Health  *Health
	Metrics *metrics.Metrics
	// Log is the process log; Access the per-request access log.
	Log    *slog.Logger
	Access *slog.Logger
	// Admission authenticates and rate-limits; nil admits everything.
	Admission Admission
}

// Admission decides whether a request may proceed. It is defined here, by
// its consumer; the agent implements it with the auth and ratelimit packages.
type Admission interface {
	// Admit authenticates the request, checks model access and reserves
	// budget. On success it returns a Ticket the pipeline settles at the end.
	Admit(ctx context.Context, snap *snapshot.Snapshot, r *http.Request, req *provider.Request) (Ticket, *APIError)
	// Models filters the model list for the caller (GET /v1/models).
	Models(snap *snapshot.Snapshot, r *http.Request) ([]string, *APIError)
}

// Ticket is an admitted request's budget.
type Ticket interface {
	// Tenant names the tenant for logs and metrics ("" when unauthenticated).
	Tenant() string
	// Header adds remaining-budget headers to a successful response.
	Header(h http.Header)
	// Settle charges the real usage (what was used, also for a cut stream).
	Settle(used provider.Usage)
}

// Mount registers the AI routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("POST /v1/chat/completions", h.api(provider.OpenAIChat))
	mux.Handle("POST /v1/completions", h.api(provider.OpenAICompletions))
	mux.Handle("POST /v1/embeddings", h.api(provider.OpenAIEmbeddings))
	mux.Handle("POST /v1/responses", h.api(provider.OpenAIResponses))
	mux.Handle("POST /v1/messages", h.api(provider.AnthropicMessages))
	mux.Handle("POST /v1/messages/count_tokens", h.api(provider.AnthropicCountTokens))
	mux.HandleFunc("GET /v1/models", h.models)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api := provider.OpenAIChat
		if r.Header.Get("anthropic-version") != "" {
			api = provider.AnthropicMessages
		}
		writeError(w, api, &APIError{Status: http.StatusNotFound, Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path), Code: "not_found"})
	})
}

// Middleware assigns the request id (honouring a sane incoming x-request-id),
// returns it in the response, and turns a handler panic into a logged 500.
// Handlers read the id from the response header X-Request-Id: a context
// value would cost a copy of the request, on every request.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		rw := &responseWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panic", "request_id", id, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if !rw.wroteHeader {
					api := provider.OpenAIChat
					if r.URL.Path == "/v1/messages" || r.URL.Path == "/v1/messages/count_tokens" {
						api = provider.AnthropicMessages
					}
					writeError(rw, api, &APIError{Status: http.StatusInternalServerError, Message: "internal error (request " + id + ")"})
					return
				}
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	var out [32]byte
	_, _ = rand.Read(b[:])
	hex.Encode(out[:], b[:])
	return string(out[:]) // one allocation; hex.EncodeToString makes two
}

// responseWriter tracks whether the header was written; Unwrap keeps
// http.ResponseController (flush, deadlines) working through it.
type responseWriter struct {
	http.ResponseWriter
	wroteHeader bool
	status      int
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// envelope is the part of a client body weir reads to route.
type envelope struct {
	Model         json.RawMessage `json:"model"`
	Stream        json.RawMessage `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// parseEnvelope validates the body (the whole body must be valid JSON, so
// later stages may trust it) and reads what routing needs.
func parseEnvelope(api provider.API, body []byte) (*provider.Request, *APIError) {
	if len(body) == 0 {
		return nil, &APIError{Status: http.StatusBadRequest, Message: "request body is empty: a JSON object is required"}
	}
	var env envelope
	// The scan reads a valid body without decoding it; anything it does not
	// read exactly as encoding/json would, and every invalid body (for the
	// decoder's precise error), goes through json.Unmarshal.
	if !jsonscan.Valid(body) || !scanEnvelope(body, &env) {
		env = envelope{}
		if aerr := decodeEnvelope(body, &env); aerr != nil {
			return nil, aerr
		}
	}
	req := &provider.Request{API: api, Body: body, Valid: true}
	if len(env.Model) == 0 || string(env.Model) == "null" {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "missing required field: model"}
	}
	if m := env.Model; len(m) >= 2 && m[0] == '"' && bytes.IndexByte(m, '\\') < 0 && utf8.Valid(m) {
		req.Model = string(m[1 : len(m)-1])
	} else if err := json.Unmarshal(env.Model, &req.Model); err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "invalid type for field \"model\": expected a string"}
	}
	if req.Model == "" {
		return nil, &APIError{Status: http.StatusBadRequest, Param: "model", Message: "field \"model\" must not be empty"}
	}
	switch string(env.Stream) {
	case "", "null", "false":
	case "true":
		req.Stream = true
	default:
		if err := json.Unmarshal(env.Stream, &req.Stream); err != nil {
			return nil, &APIError{Status: http.StatusBadRequest, Param: "stream", Message: "invalid type for field \"stream\": expected a boolean"}
		}
	}
	if api == provider.OpenAIEmbeddings || api == provider.AnthropicCountTokens {
		req.Stream = false
	}
	if env.StreamOptions != nil {
		req.IncludeUsage = env.StreamOptions.IncludeUsage
	}
	return req, nil
}

// decodeEnvelope is the reference decoding of the envelope, with the error a
// client sees for a body that is not what the API expects.
func decodeEnvelope(body []byte, env *envelope) *APIError {
	err := json.Unmarshal(body, env)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &APIError{Status: http.StatusBadRequest, Param: typeErr.Field, Message: fmt.Sprintf("invalid type for field %q: expected %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &APIError{Status: http.StatusBadRequest, Message: fmt.Sprintf("malformed JSON body at byte %d: %v", syntaxErr.Offset, err)}
	default:
		return &APIError{Status: http.StatusBadRequest, Message: "malformed JSON body: " + err.Error()}
	}
}

// scanEnvelope reads the envelope of a valid JSON body without decoding it;
// false means "decode instead": not an object, a key spelled with escapes
// or in another case (encoding/json matches names case-insensitively), a
// repeated stream_options, or a stream_options that is not plain.
func scanEnvelope(body []byte, env *envelope) bool {
	i := jsonscan.SkipWS(body, 0)
	if body[i] != '{' {
		return false
	}
	options := false
	for i++; ; {
		key, vs, ve, next, ok := jsonscan.Member(body, i)
		if !ok {
			return true
		}
		i = next
		switch string(key) {
		case "model":
			env.Model = body[vs:ve]
		case "stream":
			env.Stream = body[vs:ve]
		case "stream_options":
			if options || !scanStreamOptions(body[vs:ve], env) {
				return false
			}
			options = true
		default:
			if bytes.IndexByte(key, '\\') >= 0 || bytes.EqualFold(key, []byte("model")) ||
				bytes.EqualFold(key, []byte("stream")) || bytes.EqualFold(key, []byte("stream_options")) {
				return false
			}
		}
	}
}

// scanStreamOptions reads a stream_options value that is null or an object
// whose include_usage is a boolean or null.
func scanStreamOptions(v []byte, env *envelope) bool {
	if string(v) == "null" {
		env.StreamOptions = nil
		return true
	}
	if v[0] != '{' {
		return false
	}
	env.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{}
	for i := 1; ; {
		key, vs, ve, next, ok := jsonscan.Member(v, i)
		if !ok {
			return true
		}
		i = next
		switch {
		case string(key) == "include_usage":
			switch string(v[vs:ve]) {
			case "true":
				env.StreamOptions.IncludeUsage = true
			case "false":
				env.StreamOptions.IncludeUsage = false
			case "null":
			default:
				return false
			}
		case bytes.IndexByte(key, '\\') >= 0 || bytes.EqualFold(key, []byte("include_usage")):
			return false
		}
	}
}

// credentialHeaders are removed before a request reaches a translator, so a
// tenant key is never forwarded upstream.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "Api-Key", "Cookie", "Proxy-Authorization", "X-Goog-Api-Key"}

// stripCredentials deletes the credential headers from the client's
// request once admission has read them, in place: the request is this
// handler's, and a copy would be held for as long as a stream lasts.
func stripCredentials(h http.Header) {
	for _, k := range credentialHeaders {
		delete(h, k)
	}
}

// readBody reads a request body; size is its Content-Length (-1 when
// unknown), so a body that announces its length is read with one allocation.
func readBody(r io.Reader, size int64) ([]byte, error) {
	return readAll(r, initialSize(size, 512), nil)
}

func (h *Handler) api(api provider.API) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, api)
	})
}

// exchange is the state of one client request, for logs and metrics.
type exchange struct {
	api        provider.API
	start      time.Time
	reqID      string
	routeName  string
	model      string
	provider   string
	upModel    string
	tenant     string
	status     int
	attempts   int
	usage      provider.Usage
	ttfb       time.Duration
	firstToken time.Duration
	wait       time.Duration // time blocked on upstreams and backoff
	errType    string
	errMsg     string
	stream     bool
	// deadline ends the request: the attempt loop and each attempt's
	// watchdog enforce it, without a context of its own.
	deadline time.Time
}

// stopped reports why the request cannot go on: the client's context
// ended (context.Canceled when the client went away) or the deadline
// passed (context.DeadlineExceeded); nil while it may.
func (x *exchange) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !time.Now().Before(x.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, api provider.API) {
	snap := h.Store.Load()
	x := &exchange{api: api, start: time.Now(), reqID: w.Header().Get("X-Request-Id"), routeName: metrics.None, provider: metrics.None}
	h.Metrics.InFlight.Inc()
	defer h.Metrics.InFlight.Dec()
	defer h.finish(r, x)

	fail := func(e *APIError) {
		x.status = e.Status
		x.errType = openai.ErrorType(e.Status)
		x.errMsg = e.Message
		writeError(w, api, e)
	}

	body, err := readBody(http.MaxBytesReader(w, r.Body, snap.Config.Server.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(&APIError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit)})
			return
		}
		x.status = 499
		x.errMsg = "reading request body: " + err.Error()
		return
	}
	req, aerr := parseEnvelope(api, body)
	if aerr != nil {
		fail(aerr)
		return
	}
	x.model, x.stream = req.Model, req.Stream

	var ticket Ticket
	if h.Admission != nil {
		t, aerr := h.Admission.Admit(r.Context(), snap, r, req)
		if t != nil {
			x.tenant = t.Tenant()
		}
		if aerr != nil {
			fail(aerr)
			return
		}
		ticket = t
	}
	// Admission has read the client's key; from here on nothing may see it
	// (translators build upstream headers from req.Header).
	stripCredentials(r.Header)
	req.Header = r.Header
	match, ok := snap.Routes.Resolve(req.Model, r.Header, nil)
	if !ok {
		if ticket != nil {
			ticket.Settle(provider.Usage{})
		}
		fail(&APIError{Status: http.StatusNotFound, Param: "model", Code: "model_not_found", Message: fmt.Sprintf("model %q does not exist or is not routed by this gateway", req.Model)})
		return
	}
	x.routeName = match.Name

	x.deadline = time.Now().Add(snap.Config.Retry.Deadline.D())
	out := &sink{w: w, rc: *http.NewResponseController(w), ticket: ticket, streams: r.ProtoMajor >= 2}
	h.attempts(r.Context(), snap, req, match.Targets, x, out)
	if ticket != nil {
		ticket.Settle(x.usage)
	}
}

// finish records metrics and the access log line of x.
func (h *Handler) finish(r *http.Request, x *exchange) {
	total := time.Since(x.start)
	if x.status == 0 {
		x.status = http.StatusOK
	}
	proto := ProtocolLabel(r)
	code := statusLabel(x.status)
	m := h.Metrics
	op := operation(x.api)
	s := m.Request(metrics.RequestLabels{API: string(x.api), Operation: op, Route: x.routeName, Provider: x.provider,
		Code: code, Protocol: proto, ErrorType: x.errType, Tenant: x.tenant})
	s.Requests.Inc()
	s.Duration.Observe(total.Seconds())
	if overhead := total - x.wait; overhead >= 0 {
		s.Overhead.Observe(overhead.Seconds())
	}
	if x.usage.InputTokens > 0 {
		s.InputTokens().Observe(float64(x.usage.InputTokens))
	}
	if x.usage.OutputTokens > 0 {
		s.OutputTokens().Observe(float64(x.usage.OutputTokens))
	}
	if x.stream && x.firstToken > 0 {
		m.TimeToFirstToken.WithLabelValues(op, x.provider, x.routeName).Observe(x.firstToken.Seconds())
		if x.usage.OutputTokens > 1 {
			per := (total - x.firstToken) / time.Duration(x.usage.OutputTokens-1)
			m.TimePerToken.WithLabelValues(op, x.provider, x.routeName).Observe(per.Seconds())
		}
	}
	if h.Access == nil || !h.Access.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	// A record without a caller PC: Logger.LogAttrs would unwind the stack
	// for a source location the access log never prints.
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("request_id", x.reqID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("protocol", proto),
		slog.String("api", string(x.api)),
		slog.String("model", x.model),
		slog.String("route", x.routeName),
		slog.String("provider", x.provider),
		slog.String("upstream_model", x.upModel),
		slog.String("tenant", x.tenant),
		slog.Int("status", x.status),
		slog.Int("attempts", x.attempts),
		slog.Bool("stream", x.stream),
		slog.Int64("prompt_tokens", x.usage.InputTokens),
		slog.Int64("completion_tokens", x.usage.OutputTokens),
		slog.Float64("ttfb_ms", float64(x.ttfb.Microseconds())/1000),
		slog.Float64("duration_ms", float64(total.Microseconds())/1000),
	)
	if x.errMsg != "" {
		rec.AddAttrs(slog.String("error", x.errMsg))
	}
	_ = h.Access.Handler().Handle(context.Background(), rec)
}

// statusLabels are the "code" labels of the statuses a response can have,
// made once rather than formatted per request.
var statusLabels = func() (l [600]string) {
	for i := 100; i < len(l); i++ {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(status int) string {
	if status >= 100 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// ProtocolLabel is the "protocol" metrics label of a request.
func ProtocolLabel(r *http.Request) string {
	switch r.ProtoMajor {
	case 3:
		return "h3"
	case 2:
		return "h2"
	default:
		return "http/1.1"
	}
}

// operation is the OTel gen_ai.operation.name of an API.
func operation(api provider.API) string {
	switch api {
	case provider.OpenAICompletions:
		return "text_completion"
	case provider.OpenAIEmbeddings:
		return "embeddings"
	case provider.OpenAIResponses, provider.OpenAIChat, provider.AnthropicMessages:
		return "chat"
	case provider.AnthropicCountTokens:
		return "count_tokens"
	default:
		return string(api)
	}
}

// sink is the client side of one exchange. Writes are serialized because the
// keep-alive timer writes while the attempt loop waits.
type sink struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        http.ResponseController
	ticket    Ticket
	committed bool // status line and headers sent
	content   bool // first content byte sent: no more failover
	dead      bool // client write failed
	closed    bool // the attempt loop is done: no more keep-alives
	pending   bool // written but not flushed
	// streams is set for HTTP/2 and HTTP/3, where a response ends with
	// its stream, when the handler returns, not with its last byte.
	streams bool
	// keepAlive sends the keep-alive comments until content starts; nil
	// once it cannot fire any more, so a stream does not hold it.
	keepAlive *time.Timer
}

// keepAlives sends an SSE comment every iv while no content has been sent
// and live reports true. A timer, not a ticker goroutine: an idle stream
// waiting for its first token costs no goroutine between keep-alives.
func (s *sink) keepAlives(iv time.Duration, live func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepAlive = time.AfterFunc(iv, func() {
		if live() {
			s.sendKeepAlive(iv)
		}
	})
}

// stopKeepAliveLocked ends the keep-alive comments.
func (s *sink) stopKeepAliveLocked() {
	if s.keepAlive != nil {
		s.keepAlive.Stop()
		s.keepAlive = nil
	}
}

// contentLocked records that content was sent: no keep-alive and no
// failover any more.
func (s *sink) contentLocked() {
	s.content = true
	s.stopKeepAliveLocked()
}

var (
	jsonType        = []string{"application/json"}
	eventStreamType = []string{"text/event-stream"}
	noCache         = []string{"no-cache"}
	accelNo         = []string{"no"}
)

func (s *sink) commitLocked(status int, contentType string) {
	if s.committed {
		return
	}
	s.committed = true
	h := s.w.Header()
	// The usual values are shared, read-only slices: one allocation less
	// per response for each.
	switch contentType {
	case "application/json":
		h["Content-Type"] = jsonType[:1:1]
	case "text/event-stream":
		h["Content-Type"] = eventStreamType[:1:1]
		h["Cache-Control"] = noCache[:1:1]
		h["X-Accel-Buffering"] = accelNo[:1:1]
	default:
		h.Set("Content-Type", contentType)
	}
	if s.ticket != nil {
		s.ticket.Header(h)
	}
	s.w.WriteHeader(status)
}

// writeStream sends framed SSE bytes and flushes them at once.
func (s *sink) writeStream(b []byte, content bool) error {
	if err := s.writeStreamLater(b, content); err != nil {
		return err
	}
	return s.flush()
}

// writeStreamLater writes framed SSE bytes without flushing them: the
// stream relay flushes before it waits for the upstream (sse.Reader.OnWait),
// so events that arrived together leave in one write, and nothing written
// waits for the next upstream event.
func (s *sink) writeStreamLater(b []byte, content bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errClientGone
	}
	s.commitLocked(http.StatusOK, "text/event-stream")
	if content && !s.content {
		s.contentLocked()
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := s.w.Write(b); err != nil {
		s.dead = true
		return errClientGone
	}
	s.pending = true
	return nil
}

// flush sends what writeStreamLater wrote.
func (s *sink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errClientGone
	}
	if !s.pending {
		return nil
	}
	s.pending = false
	if err := s.rc.Flush(); err != nil {
		s.dead = true
		return errClientGone
	}
	return nil
}

// sendKeepAlive sends an SSE comment if no content has been sent yet and
// sets the timer for the next one.
func (s *sink) sendKeepAlive(iv time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keepAlive == nil || s.content || s.dead || s.closed {
		return
	}
	s.commitLocked(http.StatusOK, "text/event-stream")
	if _, err := io.WriteString(s.w, ": keep-alive\n\n"); err != nil {
		s.dead = true
		return
	}
	s.pending = false
	if err := s.rc.Flush(); err != nil {
		s.dead = true
		return
	}
	s.keepAlive.Reset(iv)
}

// close ends keep-alives: a timer that fires while the attempt loop returns
// must not write to a response the handler has finished.
func (s *sink) close() {
	s.mu.Lock()
	s.closed = true
	s.stopKeepAliveLocked()
	s.mu.Unlock()
}

func (s *sink) isCommitted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

var errClientGone = errors.New("client went away")
