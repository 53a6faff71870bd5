package agent

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"
	"time"
)

// logBoth writes one record through jsonLines and slog's JSON handler.
func logBoth(t *testing.T, msg string, attrs ...slog.Attr) (fast, ref string) {
	t.Helper()
	var a, b bytes.Buffer
	r := slog.NewRecord(time.Date(2026, 11, 23, 12, 51, 45, 868072440, time.UTC), slog.LevelInfo, msg, 0)
	r.AddAttrs(attrs...)
	if err := newJSONLines(&a).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := slog.NewJSONHandler(&b, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String()
}

// TestJSONLinesMatchSlog checks that the access log's handler writes the
// bytes slog's JSON handler writes, for request lines and for what it hands
// to slog (groups, NaN, other kinds).
func TestJSONLinesMatchSlog(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		attrs []slog.Attr
	}{
		{"request line", "request", []slog.Attr{
			slog.String("request_id", "8afb9f1eafe37c36cf5f8d40295f6af4"), slog.String("method", "POST"),
			slog.String("path", "/v1/chat/completions"), slog.Int("status", 200), slog.Bool("stream", false),
			slog.Int64("prompt_tokens", 256), slog.Float64("ttfb_ms", 78.224), slog.Float64("duration_ms", 0.000000123),
		}},
		{"escapes", "a\"b\\c\n\t\r\x01<>&\u2028\u2029\xff é", []slog.Attr{
			slog.String("error", "upstream said \"no\"\x00\x1f\x7f"), slog.String("k\"ey", "v"),
		}},
		{"numbers", "n", []slog.Attr{
			slog.Float64("big", 1e21), slog.Float64("small", 1e-7), slog.Float64("neg", -2.5), slog.Float64("zero", 0),
			slog.Uint64("u", math.MaxUint64), slog.Int64("i", math.MinInt64), slog.Duration("d", 1500*time.Millisecond),
			slog.Time("t", time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))),
		}},
		{"handed to slog", "slow", []slog.Attr{
			slog.Float64("nan", math.NaN()), slog.Group("g", slog.Int("a", 1)), slog.Any("list", []int{1, 2}),
		}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fast, ref := logBoth(t, tt.msg, tt.attrs...)
			if fast != ref {
				t.Fatalf("jsonLines:\n%s\nslog:\n%s", fast, ref)
			}
		})
	}
}

// FuzzJSONLinesMatchSlog is TestJSONLinesMatchSlog on arbitrary text and numbers.
func FuzzJSONLinesMatchSlog(f *testing.F) {
	f.Add("request", "error", "upstream \"x\"\n", 1.5, int64(-3))
	f.Add("\u2028", "\xff", "\x00", 1e-9, int64(0))
	f.Fuzz(func(t *testing.T, msg, key, val string, x float64, n int64) {
		fast, ref := logBoth(t, msg, slog.String(key, val), slog.Float64("x", x), slog.Int64("n", n))
		if fast != ref {
			t.Fatalf("jsonLines:\n%s\nslog:\n%s", fast, ref)
		}
	})
}

func BenchmarkAccessLine(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    slog.Handler
	}{{"jsonLines", newJSONLines(discard{})}, {"slog.JSONHandler", slog.NewJSONHandler(discard{}, nil)}} {
		b.Run(tc.name, func(b *testing.B) {
			l := slog.New(tc.h)
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(context.Background(), slog.LevelInfo, "request",
					slog.String("request_id", "8afb9f1eafe37c36cf5f8d40295f6af4"), slog.String("method", "POST"),
					slog.String("path", "/v1/chat/completions"), slog.String("protocol", "http/1.1"),
					slog.String("api", "openai.chat_completions"), slog.String("model", "mock-gpt"),
					slog.String("route", "mock-gpt"), slog.String("provider", "mock"), slog.String("upstream_model", "mock-gpt"),
					slog.String("tenant", "bench"), slog.Int("status", 200), slog.Int("attempts", 1), slog.Bool("stream", false),
					slog.Int64("prompt_tokens", 256), slog.Int64("completion_tokens", 50),
					slog.Float64("ttfb_ms", 0.512), slog.Float64("duration_ms", 0.534))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
