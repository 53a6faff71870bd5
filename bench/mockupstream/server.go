// Package mockupstream is a fast, deterministic stand-in for the OpenAI,
// Anthropic and Gemini HTTP APIs that fails on demand. Integration tests run
// weir against it; benchmarks use it (and its binary, bench/cmd/mockupstream)
// as the upstream that is never the bottleneck.
//
// Endpoints: OpenAI POST /v1/chat/completions, /v1/completions,
// /v1/embeddings, /v1/responses and GET /v1/models; Anthropic POST
// /v1/messages, /v1/messages/count_tokens (GET /v1/models answers in
// Anthropic's shape when the request carries x-api-key or anthropic-version);
// Gemini POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent?alt=sse (CRLF-framed, as Google sends it),
// :countTokens and GET /v1beta/models.
//
// Answers are deterministic:
//   - text: ReplyText(words), streamed in Options.Chunks content chunks;
//     a request's token limit (max_tokens, max_completion_tokens,
//     max_output_tokens, maxOutputTokens) below the word count cuts the reply
//     and sets the provider's "length" finish reason;
//   - usage: input PromptTokensFor(body) (or Options.PromptTokens), output
//     one token per word, plus ToolCallTokens for a tool call and
//     ThinkingWords for thinking/reasoning; Options.CachedTokens are reported
//     as cached input;
//   - tools: when the request declares tools, tool choice is not "none" and
//     the last message is not a tool result, the answer calls the named (or
//     first) tool with ToolArguments (OpenAI: tool call only; Anthropic: the
//     text, then a tool_use block; Gemini: a functionCall part);
//   - thinking: Anthropic thinking enabled/adaptive gives a thinking block
//     signed with Signature (and an assistant thinking block sent back with
//     another signature is rejected with 400, as Anthropic does); Gemini
//     includeThoughts gives a thought part and thoughtsTokenCount; OpenAI
//     reasoning_effort / reasoning.effort only adds reasoning tokens.
//
// Requests are checked like the providers do (auth header per provider and
// its error shape, required fields, anthropic-version, stream_options only
// with stream), so a gateway that sends a wrong request fails here too.
//
// Faults (see Fault) are queued (Enqueue), set for every request
// (SetDefault), asked for per request with the x-mock-fault header, or set
// out of process with POST /_mock/faults. Every provider request is recorded
// (Requests, GET /_mock/requests).
package mockupstream

import (
	"context"
	"crypto/subtle"
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
)

// FaultHeader is the request header that asks for a fault (ParseFault syntax).
const FaultHeader = "x-mock-fault"

// maxBody bounds a request body.
const maxBody = 32 << 20

// Server is the mock upstream; it implements http.Handler. Construct it with
// New; serve it with Listen or httptest.NewServer, and Close it so hanging
// and delayed answers end.
type Server struct {
	opts Options

	closed    chan struct{}
	closeOnce sync.Once

	count atomic.Int64
	rec   recorder

	faultMu sync.Mutex
	queue   []Fault
	def     *Fault
	// anyFault is false while no queued or default fault exists, so the hot
	// path takes no lock.
	anyFault atomic.Bool

	cacheMu sync.RWMutex
	cache   map[plan]*response

	// static answers, built once.
	modelsOpenAI, modelsAnthropic, modelsGemini []byte
}

var _ http.Handler = (*Server)(nil)

// New returns a Server answering with opts (zero fields take the defaults).
func New(opts Options) *Server {
	s := &Server{
		opts:   opts.withDefaults(),
		closed: make(chan struct{}),
		cache:  make(map[plan]*response),
	}
	s.rec.max = s.opts.MaxRecorded
	s.buildModelLists()
	return s
}

// Options returns the options in effect (defaults filled).
func (s *Server) Options() Options { return s.opts }

// Close ends every hanging or delayed answer. It does not close listeners;
// the close function of Listen does both. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Listen serves s on addr (HTTP/1.1 and h2c). It returns the base URL
// ("http://127.0.0.1:PORT") and a function that closes the Server and the
// listener with its connections.
func (s *Server) Listen(addr string) (url string, closeFn func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("mockupstream listen: %w", err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, Protocols: &protocols}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() error {
		s.Close()
		return hs.Close()
	}, nil
}

// Count is the number of provider requests received since New or Reset
// (admin requests under /_mock/ excluded).
func (s *Server) Count() int { return int(s.count.Load()) }

// Requests returns copies of the recorded provider requests, oldest first.
func (s *Server) Requests() []Recorded { return s.rec.list() }

// Reset forgets recorded requests, the count and every fault.
func (s *Server) Reset() {
	s.rec.reset()
	s.count.Store(0)
	s.ClearFaults()
}

// Enqueue queues faults: each serves the next f.Times (default 1) requests
// it matches, in order, before normal behaviour resumes.
func (s *Server) Enqueue(faults ...Fault) error {
	for _, f := range faults {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("enqueue %s: %w", f, err)
		}
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.queue = append(s.queue, faults...)
	s.anyFault.Store(len(s.queue) > 0 || s.def != nil)
	return nil
}

// SetDefault makes f the answer to every matching request the queue does not
// serve; nil clears it.
func (s *Server) SetDefault(f *Fault) error {
	if f != nil {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("set default %s: %w", f, err)
		}
		c := *f
		f = &c
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.def = f
	s.anyFault.Store(len(s.queue) > 0 || s.def != nil)
	return nil
}

// ClearFaults empties the queue and clears the default fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.queue, s.def = nil, nil
	s.anyFault.Store(false)
}

// Faults returns the queued faults (with their remaining Times) and the default.
func (s *Server) Faults() (queued []Fault, def *Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	queued = append([]Fault(nil), s.queue...)
	if s.def != nil {
		d := *s.def
		def = &d
	}
	return queued, def
}

// pickFault takes the fault this request gets: the header's, else the first
// matching queued one, else the default. A request without a valid answer
// (answerless) only takes faults that need none, so a queued stream fault is
// not spent on a request that was rejected anyway.
func (s *Server) pickFault(r *http.Request, model string, answerless bool) (Fault, bool, error) {
	if spec := r.Header.Get(FaultHeader); spec != "" {
		f, err := ParseFault(spec)
		if err != nil {
			return Fault{}, false, fmt.Errorf("%s: %w", FaultHeader, err)
		}
		return f, !answerless || !f.needsAnswer(), nil
	}
	if !s.anyFault.Load() {
		return Fault{}, false, nil
	}
	usable := func(f Fault) bool { return f.matches(model) && (!answerless || !f.needsAnswer()) }
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.queue {
		if !usable(f) {
			continue
		}
		if f.Times <= 1 {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
		} else {
			s.queue[i].Times--
		}
		s.anyFault.Store(len(s.queue) > 0 || s.def != nil)
		f.Times = 0
		return f, true, nil
	}
	if s.def != nil && usable(*s.def) {
		return *s.def, true, nil
	}
	return Fault{}, false, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_mock/") {
		s.serveAdmin(w, r)
		return
	}
	s.count.Add(1)
	bp := getBuf()
	defer putBuf(bp)
	body, readErr := readBody(r.Body, (*bp)[:0])
	*bp = body
	seq := s.rec.add(r, body)

	ep, pathModel := route(r.URL.Path)
	d := ep.dialect()
	if ep == epUnknown {
		d = dialectOfPath(r.URL.Path)
	}
	if ep == epModels && (r.Header.Get("x-api-key") != "" || r.Header.Get("anthropic-version") != "") {
		d = dialectAnthropic
	}
	switch {
	case readErr != nil:
		status := http.StatusBadRequest
		if errors.Is(readErr, errTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, d, apiError{status: status, msg: readErr.Error()})
		return
	case ep == epUnknown:
		writeError(w, d, apiError{status: http.StatusNotFound, msg: "mock upstream: unknown path " + r.URL.Path})
		return
	case r.Method != ep.method():
		w.Header().Set("Allow", ep.method())
		writeError(w, d, apiError{status: http.StatusMethodNotAllowed, msg: "mock upstream: method " + r.Method + " not allowed on " + r.URL.Path})
		return
	}
	if e, ok := s.authorize(r, d); !ok {
		writeError(w, d, e)
		return
	}
	if ep == epModels || ep == epGeminiModels {
		s.serveModels(w, d)
		return
	}
	req, e := s.parse(ep, r, body, pathModel)
	f, hasFault, err := s.pickFault(r, req.reqModel, e != nil)
	if err != nil {
		writeError(w, d, apiError{status: http.StatusBadRequest, msg: err.Error()})
		return
	}
	if hasFault {
		s.rec.setFault(seq, f.String())
	}
	if e != nil {
		if hasFault {
			// Faults that need no answer act on invalid requests too: an
			// overloaded upstream fails before it reads the body.
			s.respond(w, r, ep, nil, counts{}, f, true)
			if f.Kind != FaultSlowFirstByte {
				return
			}
		}
		writeError(w, d, *e)
		return
	}
	resp := req.resp
	if resp == nil {
		resp = s.responseFor(req.plan)
	}
	c := counts{prompt: req.prompt, completion: resp.completion}
	c.cached = min(s.opts.CachedTokens, c.prompt)
	s.respond(w, r, ep, resp, c, f, hasFault)
}

// authorize checks the provider's credential header against Options.APIKey.
func (s *Server) authorize(r *http.Request, d dialect) (apiError, bool) {
	if s.opts.APIKey == "" {
		return apiError{}, true
	}
	var got string
	switch d {
	case dialectAnthropic:
		got = r.Header.Get("x-api-key")
	case dialectGemini:
		got = r.Header.Get("x-goog-api-key")
		if got == "" {
			got = r.URL.Query().Get("key")
		}
	default:
		got = r.Header.Get("api-key")
		if a := r.Header.Get("Authorization"); a != "" {
			got, _ = strings.CutPrefix(a, "Bearer ")
		}
	}
	if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) == 1 {
		return apiError{}, true
	}
	switch d {
	case dialectAnthropic:
		return apiError{status: http.StatusUnauthorized, msg: "invalid x-api-key"}, false
	case dialectGemini:
		// The real Gemini API answers a wrong key with 400 API_KEY_INVALID
		// and a missing one with 403.
		if got == "" {
			return apiError{status: http.StatusForbidden, msg: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}, false
		}
		return apiError{status: http.StatusBadRequest, msg: "API key not valid. Please pass a valid API key.", code: "API_KEY_INVALID"}, false
	}
	if got == "" {
		return apiError{status: http.StatusUnauthorized, msg: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."}, false
	}
	return apiError{status: http.StatusUnauthorized, msg: "Incorrect API key provided."}, false
}

func writeError(w http.ResponseWriter, d dialect, e apiError) {
	b := e.body(d)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// responseFor returns the prepared answer of a plan, building it once.
func (s *Server) responseFor(p plan) *response {
	s.cacheMu.RLock()
	resp := s.cache[p]
	s.cacheMu.RUnlock()
	if resp != nil {
		return resp
	}
	resp = s.build(p)
	s.cacheMu.Lock()
	if len(s.cache) >= 1024 {
		clear(s.cache) // many distinct model names: start over rather than grow
	}
	s.cache[p] = resp
	s.cacheMu.Unlock()
	return resp
}

// respond writes resp, shaped by the fault.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, ep endpoint, resp *response, c counts, f Fault, hasFault bool) {
	if !hasFault {
		f = Fault{}
	}
	ctx := r.Context()
	var timer *time.Timer
	sleep := func(d time.Duration) bool {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
		case <-s.closed:
		}
		timer.Stop()
		return false
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()

	if s.before(ctx, w, ep, f, sleep) || resp == nil {
		return
	}
	if f.Kind == FaultSSEError && !resp.stream {
		writeError(w, ep.dialect(), apiError{status: http.StatusInternalServerError, msg: "mock upstream fault: HTTP 500"})
		return
	}

	h := w.Header()
	h.Set("Content-Type", resp.contentType)
	bp := getBuf()
	defer putBuf(bp)

	if !resp.stream {
		body := (*bp)[:0]
		if f.Kind == FaultMalformed {
			body = append(body, malformedBody...)
		} else {
			for i := range resp.frames {
				body = resp.frames[i].appendTo(body, c)
			}
		}
		*bp = body
		h.Set("Content-Length", strconv.Itoa(len(body)))
		switch f.Kind {
		case FaultResetAfter, FaultHangAfter, FaultChunkDelay:
			half := len(body) / 2
			if f.Kind == FaultChunkDelay {
				half = 0
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body[:half])
			flush(w)
			switch f.Kind {
			case FaultResetAfter:
				resetConn(w)
				return
			case FaultHangAfter:
				s.hang(ctx)
				abort()
			}
			if !sleep(f.Delay) {
				abort()
			}
			_, _ = w.Write(body[half:])
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}

	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush(w)
	delay := s.opts.ChunkDelay
	if f.Kind == FaultChunkDelay {
		delay = f.Delay
	}
	trigger := -1 // frame index before which an "after N chunks" fault acts
	switch f.Kind {
	case FaultResetAfter, FaultHangAfter, FaultSSEError:
		trigger = triggerIndex(resp.frames, f.After)
	case FaultMalformed:
		trigger = triggerIndex(resp.frames, 0)
	}
	sent := 0
	buf := *bp
	for i := 0; i <= len(resp.frames); i++ {
		if i == trigger {
			switch f.Kind {
			case FaultResetAfter:
				resetConn(w)
			case FaultHangAfter:
				s.hang(ctx)
				abort()
			case FaultSSEError:
				_, _ = w.Write(streamErrorEvent(ep, i))
				flush(w)
			case FaultMalformed:
				_, _ = w.Write(malformedEvent(ep))
				flush(w)
			}
			return
		}
		if i == len(resp.frames) {
			break
		}
		fr := &resp.frames[i]
		if fr.content {
			if sent > 0 && delay > 0 && !sleep(delay) {
				abort()
			}
			sent++
		}
		buf = fr.appendTo(buf[:0], c)
		if _, err := w.Write(buf); err != nil {
			*bp = buf
			return
		}
		flush(w)
	}
	*bp = buf
}

// before acts out the faults that strike before the answer; it reports
// whether the response is finished.
func (s *Server) before(ctx context.Context, w http.ResponseWriter, ep endpoint, f Fault, sleep func(time.Duration) bool) bool {
	switch f.Kind {
	case FaultStatus:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		if f.RetryAfterMS > 0 {
			w.Header().Set("retry-after-ms", strconv.Itoa(f.RetryAfterMS))
		}
		writeError(w, ep.dialect(), apiError{status: f.Status, msg: fmt.Sprintf("mock upstream fault: HTTP %d", f.Status)})
		return true
	case FaultReset:
		resetConn(w)
		return true
	case FaultHang:
		s.hang(ctx)
		abort()
	case FaultSlowFirstByte:
		if !sleep(f.Delay) {
			abort()
		}
	}
	return false
}

// triggerIndex is the index of the frame before which a fault that lets
// after content frames through acts: the (after+1)-th content frame, or the
// frame following the last content frame.
func triggerIndex(frames []frame, after int) int {
	seen, last := 0, -1
	for i := range frames {
		if !frames[i].content {
			continue
		}
		if seen == after {
			return i
		}
		seen++
		last = i
	}
	return last + 1
}

// hang blocks until the client goes away or the Server closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.closed:
	}
}

// abort ends the response without completing it (the connection is closed,
// or an HTTP/2 stream reset).
func abort() { panic(http.ErrAbortHandler) }

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// resetConn resets the client's TCP connection (RST, no FIN); what was
// flushed before stays sent, and Hijack flushes a written header. Where the
// connection cannot be taken over (HTTP/2) the stream is aborted instead.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort()
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // do not keep huge buffers alive
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

var errTooLarge = errors.New("mock upstream: request body over 32 MiB")

// readBody appends the body to dst.
func readBody(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > maxBody {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("mock upstream: read body: %w", err)
		}
	}
}
