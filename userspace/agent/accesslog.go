package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/weir-gateway/weir/userspace/schema/jsonenc"
)

// accessLog is the JSON access log. Lines go through a buffer flushed every
// flushEvery and at close, so a request never waits on a disk write.
type accessLog struct {
	logger *slog.Logger
	w      *bufferedWriter
}

const flushEvery = 200 * time.Millisecond

func openAccessLog(dest string, stdout io.Writer) (*accessLog, error) {
	var out io.Writer
	var file *os.File
	switch dest {
	case "off":
		return &accessLog{}, nil
	case "", "stdout":
		out = stdout
	case "stderr":
		out = os.Stderr
	default:
		f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open access log: %w", err)
		}
		out, file = f, f
	}
	bw := &bufferedWriter{buf: bufio.NewWriterSize(out, 64<<10), file: file, done: make(chan struct{})}
	go bw.loop()
	return &accessLog{logger: slog.New(newJSONLines(bw)), w: bw}, nil
}

// Close flushes and closes the log.
func (l *accessLog) Close() error {
	if l.w == nil {
		return nil
	}
	return l.w.Close()
}

type bufferedWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	file *os.File
	done chan struct{}
	once sync.Once
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bufferedWriter) loop() {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			_ = b.buf.Flush()
			b.mu.Unlock()
		}
	}
}

func (b *bufferedWriter) Close() error {
	var err error
	b.once.Do(func() {
		close(b.done)
		b.mu.Lock()
		defer b.mu.Unlock()
		err = b.buf.Flush()
		if b.file != nil {
			if cerr := b.file.Close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// jsonLines is the access log's slog.Handler: the lines of
// slog.NewJSONHandler, byte for byte (TestJSONLinesMatchSlog), for the flat
// attributes a request line has, written without slog's per-attribute state
// machine and json.Marshal per float, which cost more than the rest of a
// request's logging. Groups, WithAttrs and kinds other than string, int,
// uint, float, bool, duration and time go to a real slog.JSONHandler.
type jsonLines struct {
	w    io.Writer
	slow slog.Handler
}

func newJSONLines(w io.Writer) *jsonLines {
	return &jsonLines{w: w, slow: slog.NewJSONHandler(w, nil)}
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *jsonLines) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *jsonLines) WithAttrs(as []slog.Attr) slog.Handler { return h.slow.WithAttrs(as) }

func (h *jsonLines) WithGroup(name string) slog.Handler { return h.slow.WithGroup(name) }

func (h *jsonLines) Handle(ctx context.Context, r slog.Record) error {
	simple := true
	r.Attrs(func(a slog.Attr) bool {
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		case slog.KindFloat64:
			f := a.Value.Float64()
			simple = !math.IsNaN(f) && !math.IsInf(f, 0)
		case slog.KindTime:
			y := a.Value.Time().Year()
			simple = y >= 0 && y < 10000
		default:
			simple = false
		}
		return simple && a.Key != ""
	})
	if y := r.Time.Year(); !simple || y < 0 || y >= 10000 {
		return h.slow.Handle(ctx, r)
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, '{')
	if !r.Time.IsZero() {
		b = append(b, `"time":"`...)
		b = r.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"`...)
	b = append(b, r.Level.String()...)
	b = append(b, `","msg":`...)
	b = jsonenc.AppendString(b, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b = append(b, ',')
		b = jsonenc.AppendString(b, a.Key)
		b = append(b, ':')
		v := a.Value
		switch v.Kind() {
		case slog.KindString:
			b = jsonenc.AppendString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		case slog.KindFloat64:
			b = appendJSONFloat(b, v.Float64())
		case slog.KindTime:
			b = append(b, '"')
			b = v.Time().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
		return true
	})
	b = append(b, "}\n"...)
	_, err := h.w.Write(b)
	*bp = b
	if cap(b) <= 64<<10 {
		linePool.Put(bp)
	}
	return err
}

// appendJSONFloat formats a finite f as encoding/json does (slog's JSON
// handler marshals floats with it).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
