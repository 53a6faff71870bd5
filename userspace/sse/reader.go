package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxEventSize bounds one event (its data, name, id and the line being
// read) unless SetMaxEventSize says otherwise. The largest real provider
// events are final non-streaming-style summaries (Responses API
// response.completed) that stay far below it.
const DefaultMaxEventSize = 8 << 20

// readBufSize is the read buffer per Reader. Provider chunks are a few hundred
// bytes, so 4 KiB holds many events per read; longer lines spill into a
// separate, reused buffer. The buffer is borrowed from a pool only while
// bytes are buffered: a Reader waiting for its upstream (an idle stream)
// waits in waitBufSize bytes of its own and holds no read buffer.
const (
	readBufSize = 4096
	waitBufSize = 256
)

var bufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// ErrEventTooLarge is returned (wrapped, with the limit) by Next when an event
// or a single line exceeds the maximum event size.
var ErrEventTooLarge = errors.New("sse: event too large")

var (
	bom         = []byte("\xef\xbb\xbf")
	commentLine = []byte(":")
)

// Reader parses a text/event-stream as the WHATWG HTML specification defines
// it ("Parsing an event stream"): LF, CRLF and CR line endings, a leading
// byte order mark, ":" comments, fields with and without a colon, one space
// after the colon stripped, data lines joined by "\n". Bytes are passed
// through undecoded; the payloads are JSON that the caller validates.
//
// weir deviates from the specification where a gateway needs to, on purpose:
//   - The id field belongs to the event that carries it and is not carried
//     over to later events: weir relays events one by one and must not invent
//     ids the upstream did not send.
//   - An event is dispatched when its data is non-empty or it has an event
//     name; an event with neither carries nothing and is dropped.
//   - At the end of the stream an unterminated last line is still a line, and
//     a pending event is dispatched if it has data, because some providers
//     omit the final blank line. A stream cut mid-line shows up as a read
//     error (io.ErrUnexpectedEOF from net/http), not as a clean end, and
//     then nothing pending is dispatched.
//   - retry is ignored: weir does not reconnect upstream streams.
//
// A Reader allocates only the returned data (once per data line), the event
// name when it changes from the previous event's, and the id. The data is
// gathered in the slice it is returned in, so it is copied once, and a
// Reader waiting between events holds no data buffer.
type Reader struct {
	rd    io.Reader
	buf   []byte // borrowed from bufPool while bytes are buffered; nil otherwise
	wait  [waitBufSize]byte
	start int // first unread byte of buf
	end   int // end of valid bytes in buf
	err   error
	max   int

	skipLF  bool // the last line ended with CR: drop an immediately following LF
	started bool // the first line (which may carry a BOM) was read

	long      []byte // a line longer than buf, reused
	discard   bool   // skipping the rest of a long comment line
	discarded int    // bytes of that comment skipped so far

	data    []byte // pending data; handed out on dispatch, nil between events
	hasData bool
	name    []byte
	id      []byte
	last    string // previous event name, reused to avoid an allocation
	fail    error  // sticky error returned by every later Next

	// OnWait, when set, is called before every read of the underlying
	// reader (which may block), so a relay can flush what it wrote for the
	// events it already has instead of flushing after each one.
	OnWait func()
}

// NewReader returns a Reader over r with the default maximum event size.
func NewReader(r io.Reader) *Reader {
	return &Reader{rd: r, max: DefaultMaxEventSize}
}

// Reset discards all state and makes the Reader read from r, keeping its
// buffers and maximum event size, so Readers can be pooled.
func (r *Reader) Reset(rd io.Reader) {
	*r = Reader{
		OnWait: r.OnWait,
		rd:     rd,
		buf:    r.buf,
		max:    r.max,
		long:   r.long[:0],
		name:   r.name[:0],
		id:     r.id[:0],
		last:   r.last,
	}
}

// SetMaxEventSize sets the largest event, in bytes, Next accepts before it
// returns ErrEventTooLarge. n <= 0 restores DefaultMaxEventSize.
func (r *Reader) SetMaxEventSize(n int) {
	if n <= 0 {
		n = DefaultMaxEventSize
	}
	r.max = n
}

// Next returns the next dispatched event. At the end of the stream it
// returns io.EOF; a read error of the underlying reader is returned wrapped.
// After any error, Next keeps returning it.
func (r *Reader) Next() (Event, error) {
	if r.fail != nil {
		return Event{}, r.fail
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.putBuf()
			if err == io.EOF && len(r.data) > 0 {
				ev := r.dispatch()
				r.fail = io.EOF
				return ev, nil
			}
			r.fail = err
			return Event{}, err
		}
		if !r.started {
			r.started = true
			line = bytes.TrimPrefix(line, bom)
		}
		if len(line) == 0 {
			if len(r.data) > 0 || len(r.name) > 0 {
				return r.dispatch(), nil
			}
			r.clear()
			continue
		}
		if line[0] == ':' {
			continue
		}
		var field, value []byte
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		} else {
			field = line
		}
		switch string(field) {
		case "data":
			n := len(r.data) + len(value) + len(r.name) + len(r.id)
			if r.hasData {
				n++
			}
			if n > r.max {
				r.fail = r.tooLarge()
				return Event{}, r.fail
			}
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = append(r.id[:0], value...)
			}
		}
	}
}

// dispatch returns the pending event and clears it.
func (r *Reader) dispatch() Event {
	var ev Event
	if len(r.data) > 0 {
		ev.Data = r.data
	}
	if len(r.name) > 0 {
		if string(r.name) != r.last {
			r.last = string(r.name)
		}
		ev.Event = r.last
	}
	if len(r.id) > 0 {
		ev.ID = string(r.id)
	}
	r.clear()
	return ev
}

func (r *Reader) clear() {
	r.data = nil
	r.hasData = false
	r.name = r.name[:0]
	r.id = r.id[:0]
}

func (r *Reader) tooLarge() error {
	return fmt.Errorf("%w: over %d bytes", ErrEventTooLarge, r.max)
}

// readLine returns the next line without its terminator. The slice is valid
// until the next call. An unterminated last line is returned before io.EOF.
func (r *Reader) readLine() ([]byte, error) {
	r.long = r.long[:0]
	spilled := false
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if r.buf == nil {
			r.fill() // nothing buffered; fill borrows the buffer
		}
		b := r.buf[r.start:r.end]
		if i := indexEOL(b); i >= 0 {
			r.skipLF = b[i] == '\r'
			r.start += i + 1
			return r.finish(b[:i], spilled)
		}
		if r.err != nil {
			if len(b) > 0 || spilled {
				r.start = r.end
				return r.finish(b, spilled)
			}
			return nil, r.err
		}
		// No terminator buffered: keep the partial line and read more.
		if r.start > 0 {
			r.end = copy(r.buf, b)
			r.start = 0
		}
		if r.end == len(r.buf) {
			if !spilled && r.buf[0] == ':' {
				r.discard, r.discarded = true, 0
			}
			spilled = true
			if r.discard {
				r.discarded += r.end
			} else {
				r.long = append(r.long, r.buf[:r.end]...)
			}
			if r.discarded+len(r.long)+len(r.data) > r.max {
				return nil, r.tooLarge()
			}
			r.end = 0
		}
		r.fill()
	}
}

// finish completes a line found at the end of the buffered bytes.
func (r *Reader) finish(tail []byte, spilled bool) ([]byte, error) {
	if !spilled {
		return tail, nil
	}
	if r.discard {
		r.discard = false
		return commentLine, nil
	}
	if len(r.long)+len(tail)+len(r.data) > r.max {
		return nil, r.tooLarge()
	}
	r.long = append(r.long, tail...)
	return r.long, nil
}

// fill reads once into the free part of buf, retrying a bounded number of
// empty reads as bufio does. With nothing buffered it gives the buffer back
// to the pool, waits for bytes in r.wait, and borrows a buffer once they came.
func (r *Reader) fill() {
	if r.end == 0 {
		r.putBuf()
	}
	if r.OnWait != nil {
		r.OnWait()
	}
	for range 100 {
		dst := r.wait[:]
		if r.buf != nil {
			dst = r.buf[r.end:]
		}
		n, err := r.rd.Read(dst)
		if n < 0 || n > len(dst) {
			r.err = errors.New("sse: reader returned an invalid count")
			r.getBuf()
			return
		}
		if r.buf == nil {
			r.getBuf()
			copy(r.buf, r.wait[:n])
		}
		r.end += n
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("sse: read: %w", err)
			}
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = fmt.Errorf("sse: read: %w", io.ErrNoProgress)
}

// getBuf borrows the read buffer (empty: start and end 0) if r has none.
func (r *Reader) getBuf() {
	if r.buf == nil {
		r.buf = bufPool.Get().(*[readBufSize]byte)[:]
		r.start, r.end = 0, 0
	}
}

// putBuf returns the read buffer to the pool; only call it when no buffered
// byte is needed any more.
func (r *Reader) putBuf() {
	if r.buf != nil {
		bufPool.Put((*[readBufSize]byte)(r.buf))
		r.buf = nil
		r.start, r.end = 0, 0
	}
}
