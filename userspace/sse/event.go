// Package sse reads and writes Server-Sent Events (text/event-stream) as the
// LLM provider APIs use them.
package sse

// Event is one dispatched server-sent event.
type Event struct {
	// Event is the "event:" field; empty means the default "message".
	Event string
	// Data is the "data:" field, multiple data lines joined by "\n".
	Data []byte
	// ID is the "id:" field.
	ID string
}
