package h1server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/weir-gateway/weir/userspace/sockio"
)

const (
	// bufferLimit is how much body a handler may write before the header
	// is sent: a response that fits and ends gets a Content-Length, a
	// longer one is chunked.
	bufferLimit = 4 << 10
	// writeThrough is the size from which a body write goes to the socket
	// with writev instead of being copied into the buffer.
	writeThrough = 8 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, bufferLimit+512); return &b }}

// response is the http.ResponseWriter of one request.
type response struct {
	c      *conn
	req    *http.Request
	body   *body
	header http.Header

	status        int
	wroteHeader   bool  // the status is decided (WriteHeader or a first Write)
	committed     bool  // the header is formatted into out (or sent)
	onWire        bool  // bytes of the response were written to the connection; guarded by c.wmu
	chunked       bool  // body sent with chunked framing
	noBody        bool  // HEAD, or a status without a body: writes are counted, not sent
	closeAfter    bool  // the connection ends with this response
	hijacked      bool  // the handler took the connection
	done          bool  // the handler returned
	fullDuplex    bool  // EnableFullDuplex: the body is read while the response is written
	contentLength int64 // declared by the handler's header (or computed at the end); -1 if unknown
	written       int64 // body bytes the handler wrote
	err           error // first write error; later writes fail with it

	out  []byte // pending bytes: the body alone before commit, header and framed body after
	outp *[]byte

	// The header as it was at WriteHeader (net/http's contract: later
	// changes have no effect, trailers aside): hdr holds every field but
	// the four the framing decides on, whose values are kept apart.
	hdr                       []byte
	hdrp                      *[]byte
	snapCL, snapTE, snapConn  []string
	snapType                  []string
	haveType, haveDate, hasCE bool
	trailers                  bool
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func newResponse(c *conn, req *http.Request, b *body) *response {
	h := c.header
	c.header = nil
	if h == nil {
		h = make(http.Header, 8)
	}
	w := &response{c: c, req: req, body: b, header: h, contentLength: -1}
	b.w = w
	return w
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.c.srv.log().Debug("http: response.WriteHeader on hijacked connection")
		return
	}
	if w.wroteHeader {
		w.c.srv.log().Debug("http: superfluous response.WriteHeader call", "code", code)
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowedForStatus(code)
	if cl := w.header.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.srv.log().Debug("http: invalid Content-Length", "value", cl)
			w.header.Del("Content-Length")
		}
	}
	w.snapshot()
}

// snapshot formats the header as it is now, but for the fields the
// framing decides on at commit.
func (w *response) snapshot() {
	h := w.header
	w.snapCL, w.snapTE, w.snapConn = h["Content-Length"], h["Transfer-Encoding"], h["Connection"]
	w.snapType, w.haveType = h["Content-Type"]
	_, w.haveDate = h["Date"]
	w.hasCE = h.Get("Content-Encoding") != ""
	w.trailers = len(h["Trailer"]) > 0
	w.hdrp = bufPool.Get().(*[]byte)
	buf := appendStatusLine((*w.hdrp)[:0], w.req.ProtoAtLeast(1, 1), w.status)
	buf, sawTrailer := appendHeader(buf, h, true)
	w.trailers = w.trailers || sawTrailer
	w.hdr = buf
}

// writeInformational sends a 1xx response at once (HTTP/1.1 only).
func (w *response) writeInformational(code int) {
	if !w.req.ProtoAtLeast(1, 1) {
		return
	}
	buf := appendStatusLine(nil, true, code)
	buf, _ = appendHeader(buf, w.header, false)
	buf = append(buf, "\r\n"...)
	w.c.wmu.Lock()
	_, err := w.c.rwc.Write(buf)
	w.c.wmu.Unlock()
	if code == http.StatusContinue {
		w.body.mu.Lock()
		w.body.sentContinue = true
		w.body.mu.Unlock()
	}
	if err != nil && w.err == nil {
		w.err = err
	}
}

// writeContinue sends "100 Continue" unless the response has started.
func (w *response) writeContinue() error {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	if w.onWire {
		return nil
	}
	_, err := io.WriteString(w.c.rwc, "HTTP/1.1 100 Continue\r\n\r\n")
	return err
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.committed {
		if len(w.out)+len(p) <= bufferLimit {
			w.grab()
			w.out = append(w.out, p...)
			return len(p), nil
		}
		w.commit(p)
	}
	if w.noBody {
		return len(p), nil
	}
	if len(p) >= writeThrough {
		w.writeLarge(p)
	} else {
		w.appendBody(p)
		if len(w.out) >= writeThrough {
			w.writeOut()
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// appendBody frames p into out.
func (w *response) appendBody(p []byte) {
	w.grab()
	if w.chunked {
		w.out = strconv.AppendInt(w.out, int64(len(p)), 16)
		w.out = append(w.out, "\r\n"...)
		w.out = append(w.out, p...)
		w.out = append(w.out, "\r\n"...)
		return
	}
	w.out = append(w.out, p...)
}

// writeLarge sends out and p in one writev, without copying p.
func (w *response) writeLarge(p []byte) {
	var size [20]byte
	bufs := net.Buffers{w.out}
	if w.chunked {
		bufs = append(bufs, append(strconv.AppendInt(size[:0], int64(len(p)), 16), '\r', '\n'), p, []byte("\r\n"))
	} else {
		bufs = append(bufs, p)
	}
	w.c.wmu.Lock()
	w.onWire = true
	_, err := bufs.WriteTo(w.c.rwc)
	w.c.wmu.Unlock()
	w.out = w.out[:0]
	w.setErr(err)
}

// writeOut sends the pending bytes.
func (w *response) writeOut() {
	if len(w.out) == 0 || w.err != nil {
		return
	}
	w.c.wmu.Lock()
	w.onWire = true
	_, err := w.c.rwc.Write(w.out)
	w.c.wmu.Unlock()
	w.out = w.out[:0]
	w.setErr(err)
}

func (w *response) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.closeAfter = true
	}
}

// grab takes a buffer from the pool for out if it has none.
func (w *response) grab() {
	if w.outp == nil {
		w.outp = bufPool.Get().(*[]byte)
		w.out = (*w.outp)[:0]
	}
}

// release gives out's buffer back to the pool; nothing must be pending.
func (w *response) release() {
	putBuf(w.outp, w.out)
	w.outp, w.out = nil, nil
}

// releaseAll gives back every buffer once the response is over.
func (w *response) releaseAll() {
	w.release()
	putBuf(w.hdrp, w.hdr)
	w.hdrp, w.hdr = nil, nil
	// The header map serves the connection's next response: a ResponseWriter
	// may not be used once its handler returned, and an API answer's dozen
	// fields (weir's rate-limit headers among them) cost five allocations
	// in a new map. A map grown large for one response is not kept.
	if !w.hijacked && len(w.header) <= maxKeptFields {
		clear(w.header)
		w.c.header = w.header
	}
}

// maxKeptFields bounds the header map a connection keeps between
// responses.
const maxKeptFields = 24

func putBuf(p *[]byte, b []byte) {
	if p != nil && cap(b) <= 64<<10 {
		*p = b[:0]
		bufPool.Put(p)
	}
}

// Flush sends the header and everything written so far, and gives the
// buffer back: a stream waiting for its next event holds none.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush reporting the write error (http.ResponseController).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	w.writeOut()
	w.release()
	if w.c.plain && !w.body.unread() {
		// A stream whose request body is read needs no read buffer
		// until the next request: awaitRequest takes one again.
		w.c.releaseReader()
	}
	return w.err
}

// SetReadDeadline is for http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline is for http.ResponseController.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex is for http.ResponseController: the handler reads the
// request body while it writes the response, so the header must not wait
// for the body to be drained.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection to the handler, with what was already read
// from it.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.done {
		return nil, nil, errors.New("h1server: Hijack after the handler returned")
	}
	if w.wroteHeader {
		if err := w.FlushError(); err != nil {
			return nil, nil, err
		}
	}
	c := w.c
	if !c.detach() {
		return nil, nil, net.ErrClosed
	}
	w.hijacked = true
	w.release()
	br := c.br
	c.br = nil
	// The handler gets the connection as accepted (a *net.TCPConn), not
	// the raw-I/O wrapper: Hijack hands the socket over entirely.
	nc := sockio.Unwrap(c.rwc)
	if br == nil {
		br = bufio.NewReader(nc)
	}
	return nc, bufio.NewReadWriter(br, bufio.NewWriter(nc)), nil
}

// commit decides the framing and completes the header snapshot into
// out, ahead of the body bytes buffered so far; sniff is the start of
// the body when the buffer holds none of it (a first write too large to
// buffer). It follows net/http's rules (chunkWriter.writeHeader) so
// clients see the same responses.
func (w *response) commit(sniff []byte) {
	w.committed = true
	c, req := w.c, w.req
	pending := w.out
	if len(pending) > 0 {
		sniff = pending
	}
	isHead := req.Method == http.MethodHead
	allowed := bodyAllowedForStatus(w.status)
	te := first(w.snapTE)
	hasTE := te != ""
	connHdr := first(w.snapConn)

	var setLength bool
	if w.done && !w.trailers && !hasTE && allowed && w.snapCL == nil && (!isHead || len(pending) > 0) {
		w.contentLength = int64(len(pending))
		setLength = true
	}
	wants10KeepAlive := req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(req.Header.Get("Connection"), "keep-alive")
	keepAlives := !c.srv.closing.Load()
	hasCL := w.contentLength != -1
	sendCL, sendConn, sendType := w.snapCL != nil, w.snapConn != nil, w.haveType
	setConn := ""
	if wants10KeepAlive && (isHead || hasCL || !allowed) {
		if w.snapConn == nil {
			setConn = "keep-alive"
		}
	} else if !req.ProtoAtLeast(1, 1) || req.Close {
		w.closeAfter = true
	}
	if connHdr == "close" || !keepAlives {
		w.closeAfter = true
	}
	b := w.body
	b.mu.Lock()
	if b.wantContinue && !b.eof {
		w.closeAfter = true
	}
	if req.ContentLength != 0 && !w.closeAfter && !b.eof && !w.fullDuplex {
		// The client may be blocked sending a body nobody reads (or that
		// the handler closed unread); read it now, bounded, so the
		// connection can go on and the client can read this response.
		_, err := io.CopyN(io.Discard, b.rc, maxPostHandlerReadBytes+1)
		if err == io.EOF {
			b.eof = true
		} else {
			w.closeAfter = true
			sendConn = false
			setConn = "close"
		}
	}
	b.mu.Unlock()

	var sniffed string
	if allowed {
		if !w.hasCE && !w.haveType && !hasTE && len(sniff) > 0 {
			sniffed = http.DetectContentType(sniff)
		}
	} else {
		sendCL = false
		if w.status == http.StatusNotModified {
			sendType = false
		}
	}
	if hasCL && hasTE && te != "identity" {
		sendCL = false
		hasCL = false
		w.contentLength = -1
	}
	// The handler's Transfer-Encoding is never sent as it is: the body is
	// chunked here, or delimited by its length or by the close.
	switch {
	case isHead || !allowed || w.status == http.StatusNoContent, hasCL:
	case req.ProtoAtLeast(1, 1):
		if hasTE && te == "identity" {
			w.closeAfter = true
		} else {
			w.chunked = true
		}
	default:
		w.closeAfter = true
	}
	if w.chunked {
		sendCL = false
	}
	if w.closeAfter && !hasToken(connHdr, "close") && !isProtocolSwitch(w.status, w.header) {
		sendConn = false
		setConn = ""
		if req.ProtoAtLeast(1, 1) {
			setConn = "close"
		}
	}

	buf := w.hdr
	if sendType {
		for _, v := range w.snapType {
			buf = appendField(buf, "Content-Type", v)
		}
	} else if sniffed != "" {
		buf = appendField(buf, "Content-Type", sniffed)
	}
	if sendConn {
		for _, v := range w.snapConn {
			buf = appendField(buf, "Connection", v)
		}
	} else if setConn != "" {
		buf = appendField(buf, "Connection", setConn)
	}
	if w.chunked {
		buf = append(buf, "Transfer-Encoding: chunked\r\n"...)
	}
	if !w.haveDate {
		buf = append(buf, "Date: "...)
		buf = appendDate(buf)
		buf = append(buf, "\r\n"...)
	}
	if sendCL {
		for _, v := range w.snapCL {
			buf = appendField(buf, "Content-Length", v)
		}
	} else if setLength {
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, w.contentLength, 10)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	if len(pending) > 0 && !w.noBody {
		if w.chunked {
			buf = strconv.AppendInt(buf, int64(len(pending)), 16)
			buf = append(buf, "\r\n"...)
			buf = append(buf, pending...)
			buf = append(buf, "\r\n"...)
		} else {
			buf = append(buf, pending...)
		}
	}
	putBuf(w.outp, w.out)
	w.outp, w.out = w.hdrp, buf
	w.hdrp, w.hdr = nil, nil
}

func first(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

// finish ends the response after the handler returned.
func (w *response) finish() {
	w.done = true
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	if w.chunked {
		w.grab()
		w.out = append(w.out, "0\r\n"...)
		w.out = w.appendTrailers(w.out)
		w.out = append(w.out, "\r\n"...)
	}
	w.writeOut()
	if !w.noBody && w.contentLength != -1 && w.written != w.contentLength {
		w.closeAfter = true // the client would wait for bytes that never come
	}
}

// abort ends a response whose handler panicked: what was sent stays, the
// end of the body is never written, so the client sees it cut short.
func (w *response) abort() {
	if w.committed {
		w.writeOut()
	}
}

// appendTrailers writes the trailer fields the handler declared
// (Trailer header, or http.TrailerPrefix keys) with their final values.
func (w *response) appendTrailers(buf []byte) []byte {
	for _, v := range w.header["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
			if k == "" || !httpguts.ValidTrailerHeader(k) {
				continue
			}
			for _, tv := range w.header[k] {
				buf = appendField(buf, k, tv)
			}
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(name) {
			for _, v := range vv {
				buf = appendField(buf, name, v)
			}
		}
	}
	return buf
}

// appendHeader writes h's fields sorted by key, dropping invalid names
// and trailer placeholders (http.TrailerPrefix keys, which it reports),
// and, when framing is set, the four fields the framing decides on.
func appendHeader(buf []byte, h http.Header, framing bool) ([]byte, bool) {
	var arr [24]string
	keys := arr[:0]
	trailers := false
	for k := range h {
		switch {
		case strings.HasPrefix(k, http.TrailerPrefix):
			trailers = true
			continue
		case framing && (k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" || k == "Content-Type"):
			continue
		case !httpguts.ValidHeaderFieldName(k):
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			buf = appendField(buf, k, v)
		}
	}
	return buf, trailers
}

// appendField writes one header line; newlines in v become spaces, so a
// value can never start a new header line.
func appendField(buf []byte, k, v string) []byte {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	v = textproto.TrimString(v)
	buf = append(buf, k...)
	buf = append(buf, ": "...)
	buf = append(buf, v...)
	return append(buf, "\r\n"...)
}

func appendStatusLine(buf []byte, is11 bool, code int) []byte {
	if is11 {
		buf = append(buf, "HTTP/1.1 "...)
	} else {
		buf = append(buf, "HTTP/1.0 "...)
	}
	buf = strconv.AppendInt(buf, int64(code), 10)
	buf = append(buf, ' ')
	if text := http.StatusText(code); text != "" {
		buf = append(buf, text...)
	} else {
		buf = append(buf, "status code "...)
		buf = strconv.AppendInt(buf, int64(code), 10)
	}
	return append(buf, "\r\n"...)
}

type cachedDate struct {
	sec int64
	b   []byte
}

var lastDate atomic.Pointer[cachedDate]

// appendDate appends the current time in http.TimeFormat, formatted once
// a second.
func appendDate(buf []byte) []byte {
	now := time.Now()
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return append(buf, d.b...)
	}
	d := &cachedDate{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
	lastDate.Store(d)
	return append(buf, d.b...)
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199, status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

func isProtocolSwitch(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && len(h["Upgrade"]) > 0
}
