// Package jsonscan walks JSON text without decoding it: value spans,
// object members and array elements, for the hot path that reads a few
// fields of a body it otherwise passes on (the token estimate, the proxy's
// envelope). Callers check the text with json.Valid first; on text that is
// not valid JSON every function still stays in bounds and makes progress,
// so nothing panics or loops, but the spans are unspecified.
package jsonscan

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// SkipWS returns the index of the first non-space byte at or after i.
func SkipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// StringEnd returns the index after the closing quote of the string that
// starts at b[i] == '"' (len(b) when it is not closed).
func StringEnd(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// ValueEnd returns the index after the valid JSON value starting at b[i].
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = StringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// Member reads the object member at or after b[i] (past a comma): the key
// without quotes (still escaped), the value's span, and where to continue.
// ok is false at the closing brace, and on input that is not valid JSON.
func Member(b []byte, i int) (key []byte, vs, ve, next int, ok bool) {
	i = SkipWS(b, i)
	if i < len(b) && b[i] == ',' {
		i = SkipWS(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, 0, 0, i, false
	}
	ke := StringEnd(b, i)
	if ke-1 <= i {
		return nil, 0, 0, len(b), false
	}
	key = b[i+1 : ke-1]
	vs = SkipWS(b, SkipWS(b, ke)+1) // past the colon
	ve = ValueEnd(b, vs)
	if ve <= vs {
		return nil, 0, 0, len(b), false
	}
	return key, vs, ve, ve, true
}

// Element reads the array element at or after b[i] (past a comma); ok is
// false at the closing bracket, and on input that is not valid JSON.
func Element(b []byte, i int) (vs, ve int, ok bool) {
	i = SkipWS(b, i)
	if i < len(b) && b[i] == ',' {
		i = SkipWS(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		return 0, 0, false
	}
	ve = ValueEnd(b, i)
	if ve <= i {
		return 0, 0, false
	}
	return i, ve, true
}

// Unquote appends the decoded content of a JSON string (without its quotes)
// to dst, as encoding/json decodes it: escapes resolved, invalid UTF-8 and
// unpaired surrogates replaced by U+FFFD.
func Unquote(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i += 2
			switch s[i-1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s, i)
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst = append(dst, s[i-1])
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// hex4 reads the four hex digits at s[i:] (json.Valid checked them).
func hex4(s []byte, i int) rune {
	if i+4 > len(s) {
		return utf8.RuneError
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
