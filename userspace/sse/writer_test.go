package sse

import "testing"

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"data only", Event{Data: []byte(`{"a":1}`)}, "data: {\"a\":1}\n\n"},
		{"named with id", Event{Event: "message_start", ID: "7", Data: []byte("x")}, "event: message_start\nid: 7\ndata: x\n\n"},
		{"multi-line data", Event{Data: []byte("a\nb\r\nc\rd")}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"empty lines kept", Event{Data: []byte("\na\n")}, "data:\ndata: a\ndata:\n\n"},
		{"leading space survives", Event{Data: []byte(" x")}, "data:  x\n\n"},
		{"no data still has a data line", Event{Event: "ping"}, "event: ping\ndata:\n\n"},
		{"newlines cannot inject fields", Event{Event: "a\ndata: evil", ID: "1\r\n2"}, "event: adata: evil\nid: 12\ndata:\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEvent([]byte("prev"), tt.ev))
			if got != "prev"+tt.want {
				t.Fatalf("got %q, want %q", got, "prev"+tt.want)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ text, want string }{
		{"keep-alive", ": keep-alive\n\n"},
		{"", ":\n\n"},
		{"a\nb\r\nc", ": a\n: b\n: c\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := string(AppendComment(nil, tt.text)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := Event{Data: []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`)}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], ev)
	}
}
