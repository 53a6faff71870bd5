package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenEvent is the JSON form of an Event in testdata/*.golden.
type goldenEvent struct {
	Event string `json:"event,omitempty"`
	Data  string `json:"data"`
	ID    string `json:"id,omitempty"`
}

// readAll parses everything from r. The loop is bounded by limit events so a
// parser bug cannot hang a test.
func readAll(r *Reader, limit int) ([]Event, error) {
	var evs []Event
	for range limit + 1 {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, fmt.Errorf("more than %d events", limit)
}

func toGolden(evs []Event) []goldenEvent {
	out := make([]goldenEvent, 0, len(evs))
	for _, ev := range evs {
		out = append(out, goldenEvent{Event: ev.Event, Data: string(ev.Data), ID: ev.ID})
	}
	return out
}

// splitReaders returns the ways the golden tests feed the same bytes: whole,
// one byte per read, halves, data with EOF, and split in two at every offset
// (which covers a CR and its LF arriving in different reads).
func splitReaders(in []byte) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(in) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(in)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(in)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) },
	}
	for i := 1; i < len(in); i++ {
		m[fmt.Sprintf("split@%d", i)] = func() io.Reader {
			return io.MultiReader(bytes.NewReader(in[:i]), bytes.NewReader(in[i:]))
		}
	}
	return m
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.sse"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.sse: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".sse")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := readAll(NewReader(bytes.NewReader(src)), len(src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := json.MarshalIndent(toGolden(evs), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".sse") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("events differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			for how, mk := range splitReaders(src) {
				again, err := readAll(NewReader(mk()), len(src))
				if err != nil {
					t.Fatalf("%s: parse: %v", how, err)
				}
				if !equalEvents(again, evs) {
					t.Fatalf("%s: got %+v, want %+v", how, toGolden(again), toGolden(evs))
				}
			}
		})
	}
}

func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Event != b[i].Event || a[i].ID != b[i].ID || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// TestLongLines crosses the internal read buffer with lines and terminators at
// and around its edge.
func TestLongLines(t *testing.T) {
	for _, n := range []int{readBufSize - 8, readBufSize - 7, readBufSize - 6, readBufSize - 1, readBufSize, readBufSize + 1, 3*readBufSize + 5} {
		for _, eol := range []string{"\n", "\r\n", "\r"} {
			t.Run(fmt.Sprintf("%d/%q", n, eol), func(t *testing.T) {
				long := strings.Repeat("x", n)
				in := "data: " + long + eol + "data: tail" + eol + eol + ": " + long + eol + eol + "data: " + long + eol + eol
				want := []Event{{Data: []byte(long + "\ntail")}, {Data: []byte(long)}}
				for how, mk := range map[string]io.Reader{
					"whole":   strings.NewReader(in),
					"onebyte": iotest.OneByteReader(strings.NewReader(in)),
					"half":    iotest.HalfReader(strings.NewReader(in)),
				} {
					got, err := readAll(NewReader(mk), 10)
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					if !equalEvents(got, want) {
						t.Fatalf("%s: got %d events %q", how, len(got), toGolden(got))
					}
				}
			})
		}
	}
}

// errReader yields its data and then err.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// endless repeats one byte forever.
type endless byte

func (b endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestNextErrors(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name    string
		r       io.Reader
		max     int
		want    []string // data of the events before the error
		wantErr error
	}{
		{"data over max", strings.NewReader("data: 0123456789\ndata: 0123456789\n\n"), 16, nil, ErrEventTooLarge},
		{"events under max pass", strings.NewReader("data: 0123456789\n\ndata: 0123456789\n\n"), 16, []string{"0123456789", "0123456789"}, nil},
		{"endless line", endless('a'), 3 * readBufSize, nil, ErrEventTooLarge},
		{"endless comment", io.MultiReader(strings.NewReader(":"), endless(' ')), 3 * readBufSize, nil, ErrEventTooLarge},
		{"read error drops pending event", &errReader{[]byte("data: one\n\ndata: two\n"), boom}, 0, []string{"one"}, boom},
		{"unexpected EOF drops pending event", &errReader{[]byte("data: one\n\ndata: tw"), io.ErrUnexpectedEOF}, 0, []string{"one"}, io.ErrUnexpectedEOF},
		{"empty reads", &errReader{nil, nil}, 0, nil, io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.r)
			r.SetMaxEventSize(tt.max)
			var got []string
			var err error
			for range 10000 {
				var ev Event
				ev, err = r.Next()
				if err != nil {
					break
				}
				got = append(got, string(ev.Data))
			}
			if tt.wantErr == nil {
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
			if _, again := r.Next(); again != err {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

// TestEndlessCRIsBounded: a stream of CRs is a stream of blank lines, which
// dispatch nothing; the reader must not spin forever on them nor grow.
func TestEndlessCRIsBounded(t *testing.T) {
	r := NewReader(io.LimitReader(endless('\r'), 1<<20))
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

func TestReset(t *testing.T) {
	r := NewReader(strings.NewReader("event: a\ndata: one\ndata: pending"))
	r.SetMaxEventSize(64)
	if ev, err := r.Next(); err != nil || ev.Event != "a" || string(ev.Data) != "one\npending" {
		t.Fatalf("first stream: %+v %v", ev, err)
	}
	r.Reset(strings.NewReader("data: fresh\n\n"))
	ev, err := r.Next()
	if err != nil || ev.Event != "" || string(ev.Data) != "fresh" {
		t.Fatalf("after Reset: %+v %v", ev, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after Reset: err = %v, want io.EOF", err)
	}
	r.Reset(strings.NewReader("data: " + strings.Repeat("x", 65) + "\n\n"))
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Reset lost the max event size: %v", err)
	}
}

func TestEventNameReused(t *testing.T) {
	r := NewReader(strings.NewReader("event: delta\ndata: 1\n\nevent: delta\ndata: 2\n\n"))
	a, _ := r.Next()
	b, _ := r.Next()
	if a.Event != "delta" || b.Event != "delta" {
		t.Fatalf("names %q %q", a.Event, b.Event)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		r.Reset(strings.NewReader("event: delta\ndata: 1\n\n"))
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); allocs > 2 { // the strings.Reader and the event data
		t.Fatalf("%v allocations per event, want <= 2", allocs)
	}
}

func FuzzReader(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.sse"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: a\r"))
	f.Add([]byte("\xef\xbb\xbf:\r\n\r\nid\x00\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 16
		r := NewReader(bytes.NewReader(in))
		r.SetMaxEventSize(max)
		evs, err := readAll(r, len(in))
		if err != nil {
			if errors.Is(err, ErrEventTooLarge) {
				return
			}
			t.Fatalf("parse: %v", err)
		}
		// Feeding one byte at a time must not change the result.
		r2 := NewReader(iotest.OneByteReader(bytes.NewReader(in)))
		r2.SetMaxEventSize(max)
		slow, err := readAll(r2, len(in))
		if err != nil || !equalEvents(slow, evs) {
			t.Fatalf("one byte reads: %v, %q != %q", err, toGolden(slow), toGolden(evs))
		}
		// Serializing and parsing again gives the same events.
		var out []byte
		for _, ev := range evs {
			if len(ev.Data) == 0 && ev.Event == "" {
				t.Fatalf("dispatched an empty event %+v", ev)
			}
			out = AppendEvent(out, ev)
		}
		back, err := readAll(NewReader(bytes.NewReader(out)), len(out))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !equalEvents(back, evs) {
			t.Fatalf("roundtrip:\n%q\n->\n%q\n->\n%q", in, out, toGolden(back))
		}
	})
}

func BenchmarkReader(b *testing.B) {
	one, err := os.ReadFile(filepath.Join("testdata", "openai_stream.sse"))
	if err != nil {
		b.Fatal(err)
	}
	in := bytes.Repeat(one, 64)
	events := 64 * bytes.Count(one, []byte("\n\n"))
	br := bytes.NewReader(in)
	r := NewReader(br)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(in)
		r.Reset(br)
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != events {
			b.Fatalf("%d events, want %d", n, events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

// waitingReader hands out one chunk per Read and records, at every Read,
// whether the sse.Reader holds its read buffer and a data buffer while it
// waits.
type waitingReader struct {
	r       *Reader
	chunks  []string
	holding []bool
	data    []bool
}

func (w *waitingReader) Read(p []byte) (int, error) {
	w.holding = append(w.holding, w.r.buf != nil)
	w.data = append(w.data, w.r.data != nil)
	if len(w.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, w.chunks[0])
	if w.chunks[0] = w.chunks[0][n:]; w.chunks[0] == "" {
		w.chunks = w.chunks[1:]
	}
	return n, nil
}

// TestIdleReaderHoldsNoBuffer checks that a Reader waiting for the next
// event (the upstream is quiet) has given its read buffer back, while one in
// the middle of a line keeps it, that it holds no data buffer between
// events (the data went out with the event), and that events split
// anywhere still parse.
func TestIdleReaderHoldsNoBuffer(t *testing.T) {
	long := strings.Repeat("x", waitBufSize+10)
	w := &waitingReader{chunks: []string{"data: one\n\n", "data: t", "wo\n\n", "data: " + long + "\n\n"}}
	w.r = NewReader(w)
	var got []string
	for {
		ev, err := w.r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Data))
	}
	if want := []string{"one", "two", long}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	// Reads: "data: one\n\n" (idle), "data: t" (idle), "wo\n\n" (mid-line),
	// the long event in two reads (idle, then mid-line), EOF (idle).
	want := []bool{false, false, true, false, true, false}
	if !slices.Equal(w.holding, want) {
		t.Fatalf("buffer held at each read: %v, want %v", w.holding, want)
	}
	if want := make([]bool, len(want)); !slices.Equal(w.data, want) {
		t.Fatalf("data buffer held at each read: %v, want %v", w.data, want)
	}
	if w.r.buf != nil {
		t.Fatal("a finished Reader still holds its buffer")
	}
}

// TestOnWaitBeforeEveryRead checks that OnWait runs before each read of the
// underlying reader and never between events that are already buffered, so a
// relay that flushes in it sends a burst at once and never holds an event
// back while it waits.
func TestOnWaitBeforeEveryRead(t *testing.T) {
	w := &waitingReader{chunks: []string{"data: a\n\ndata: b\n\n", "data: c\n\n"}}
	r := NewReader(w)
	w.r = r
	var log []string
	r.OnWait = func() { log = append(log, fmt.Sprintf("wait@read%d", len(w.holding))) }
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, string(ev.Data))
	}
	want := []string{"wait@read0", "a", "b", "wait@read1", "c", "wait@read2"}
	if !slices.Equal(log, want) {
		t.Fatalf("log %q, want %q", log, want)
	}
	r.Reset(strings.NewReader(""))
	if r.OnWait == nil {
		t.Fatal("Reset dropped OnWait")
	}
}
