package mockupstream

import (
	"strconv"
	"unicode/utf8"
)

// hole is a number a response template leaves open because it depends on the
// request (the input token count), so one template serves every request of
// the same shape without JSON encoding per request.
type hole uint8

const (
	holePrompt   hole = iota + 1 // input tokens
	holeUncached                 // input tokens minus cached ones (Anthropic input_tokens)
	holeCached                   // cached input tokens
	holeTotal                    // input + output tokens
)

type holeAt struct {
	pos int
	h   hole
}

// frame is one write to the client: a whole non-streaming body or one SSE
// event.
type frame struct {
	b     []byte
	holes []holeAt
	// content marks frames that carry generated content (text, thinking or
	// tool argument deltas); stream faults count these.
	content bool
}

// counts are the per-request numbers filled into holes.
type counts struct {
	prompt, cached, completion int
}

func (c counts) value(h hole) int {
	switch h {
	case holePrompt:
		return c.prompt
	case holeUncached:
		return c.prompt - c.cached
	case holeCached:
		return c.cached
	case holeTotal:
		return c.prompt + c.completion
	}
	return 0
}

// appendTo appends the frame with its holes filled.
func (f *frame) appendTo(dst []byte, c counts) []byte {
	last := 0
	for _, h := range f.holes {
		dst = append(dst, f.b[last:h.pos]...)
		dst = strconv.AppendInt(dst, int64(c.value(h.h)), 10)
		last = h.pos
	}
	return append(dst, f.b[last:]...)
}

// response is a prepared answer: its frames and the output token count.
type response struct {
	frames     []frame
	completion int
	stream     bool
	// contentType of the answer.
	contentType string
}

// builder assembles frames. Its methods append to the current frame; end
// closes it.
type builder struct {
	cur    frame
	frames []frame
	// eol ends SSE lines: "\n", or "\r\n" for Gemini, which uses CRLF.
	eol string
}

func (b *builder) s(lit string) *builder {
	b.cur.b = append(b.cur.b, lit...)
	return b
}

// q appends v as a JSON string.
func (b *builder) q(v string) *builder {
	b.cur.b = appendJSONString(b.cur.b, v)
	return b
}

func (b *builder) n(v int) *builder {
	b.cur.b = strconv.AppendInt(b.cur.b, int64(v), 10)
	return b
}

func (b *builder) hole(h hole) *builder {
	b.cur.holes = append(b.cur.holes, holeAt{pos: len(b.cur.b), h: h})
	return b
}

// event starts an SSE event: "event: name" (when name is set) and "data: ".
func (b *builder) event(name string) *builder {
	if name != "" {
		b.s("event: ").s(name).s(b.eol)
	}
	return b.s("data: ")
}

// endEvent ends an SSE event and the frame.
func (b *builder) endEvent(content bool) {
	b.s(b.eol).s(b.eol)
	b.end(content)
}

func (b *builder) end(content bool) {
	b.cur.content = content
	b.frames = append(b.frames, b.cur)
	b.cur = frame{}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
