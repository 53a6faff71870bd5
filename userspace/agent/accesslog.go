package agent

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
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
	return &accessLog{logger: slog.New(slog.NewJSONHandler(bw, nil)), w: bw}, nil
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
