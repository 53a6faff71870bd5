package sse

import (
	"bytes"
	"strings"
)

// AppendEvent appends ev framed as an event-stream event to dst: an "event:"
// line when ev.Event is set, an "id:" line when ev.ID is set, one "data:" line
// per line of ev.Data (split at LF, CRLF and CR, so data can never inject a
// field or end the event early) and the blank line that dispatches it. CR and
// LF cannot be represented inside Event and ID and are dropped from them.
// An event always gets at least one data line, as browsers' EventSource
// ignores events without one.
func AppendEvent(dst []byte, ev Event) []byte {
	if ev.Event != "" {
		dst = append(dst, "event: "...)
		dst = appendSingleLine(dst, ev.Event)
		dst = append(dst, '\n')
	}
	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = appendSingleLine(dst, ev.ID)
		dst = append(dst, '\n')
	}
	return appendLines(dst, "data:", ev.Data)
}

// AppendComment appends text as comment lines (": text"), one per line of
// text, followed by a blank line so clients that split the stream at blank
// lines see a self-contained block; parsers dispatch nothing for it.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, ":", []byte(text))
}

// appendLines appends one "prefix value" line per line of text (split at LF,
// CRLF and CR) and the blank line that ends the block.
func appendLines(dst []byte, prefix string, text []byte) []byte {
	for {
		i := indexEOL(text)
		line := text
		if i >= 0 {
			line = text[:i]
		}
		dst = append(dst, prefix...)
		if len(line) > 0 {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if i < 0 {
			return append(dst, '\n')
		}
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

// appendSingleLine appends s without its CR and LF bytes.
func appendSingleLine(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		s = s[i+1:]
	}
}

// indexEOL returns the index of the first CR or LF in b, or -1. Two
// IndexByte scans beat IndexAny by far on the common single-line data.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
