package mockupstream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// The mock reads requests with a small validating scanner instead of
// json.Unmarshal on the whole body: it only descends into the fields an
// answer depends on and skips the rest (message text, tool schemas) in one
// pass, which keeps a 1 KB request well under a microsecond per field.

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

var errJSONDepth = errors.New("exceeded max depth")

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func synErr(off int, msg string) error { return &syntaxError{off: off, msg: msg} }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the JSON value that starts at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, synErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		if depth >= maxDepth {
			return i, errJSONDepth
		}
		end, err := walkObject(b, i, depth+1, nil)
		return end, err
	case c == '[':
		if depth >= maxDepth {
			return i, errJSONDepth
		}
		return walkArray(b, i, depth+1, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return i, synErr(i, fmt.Sprintf("unexpected character %q", b[i]))
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, synErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

// skipString returns the offset past the string that starts at b[i]. It
// finds quotes and backslashes with bytes.IndexByte and checks for control
// characters eight bytes at a time, since message text is most of a request.
func skipString(b []byte, i int) (int, error) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b), synErr(len(b), "unexpected end of input in string")
		}
		seg := b[j : j+k]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			if c := firstControl(seg); c >= 0 {
				return j + c, synErr(j+c, "control character in string")
			}
			return j + k + 1, nil
		}
		if c := firstControl(seg[:bs]); c >= 0 {
			return j + c, synErr(j+c, "control character in string")
		}
		j += bs + 1 // the escaped character
		if j >= len(b) {
			return j, synErr(j, "unexpected end of input in string")
		}
		switch b[j] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if j+4 >= len(b) {
				return j, synErr(j, "unexpected end of input in \\u escape")
			}
			for k := j + 1; k <= j+4; k++ {
				if !isHex(b[k]) {
					return k, synErr(k, "invalid \\u escape")
				}
			}
			j += 4
		default:
			return j, synErr(j, "invalid escape")
		}
		j++
	}
}

// firstControl is the index of the first byte below 0x20 in s, or -1.
func firstControl(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		if (x-ones*0x20)&^x&highs != 0 {
			break // a byte below 0x20 is among these eight
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipNumber(b []byte, i int) (int, error) {
	j := i
	if b[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j - k
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case digits() == 0:
		return j, synErr(j, "invalid number")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			return j, synErr(j, "invalid number fraction")
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return j, synErr(j, "invalid number exponent")
		}
	}
	return j, nil
}

// walkObject validates the object at b[i] and calls fn (when set) with each
// raw key (without quotes, possibly escaped) and raw value.
func walkObject(b []byte, i, depth int, fn func(key, val []byte) error) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, synErr(i, "want an object key")
		}
		kend, err := skipString(b, i)
		if err != nil {
			return kend, err
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, synErr(i, "want ':' after an object key")
		}
		i = skipWS(b, i+1)
		vend, err := skipValue(b, i, depth)
		if err != nil {
			return vend, err
		}
		if fn != nil {
			if err := fn(key, b[i:vend]); err != nil {
				return vend, err
			}
		}
		i = skipWS(b, vend)
		if i >= len(b) {
			return i, synErr(i, "unexpected end of input in object")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, synErr(i, "want ',' or '}' in object")
		}
	}
}

// walkArray validates the array at b[i] and calls fn (when set) with each
// raw element.
func walkArray(b []byte, i, depth int, fn func(elem []byte) error) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := skipValue(b, i, depth)
		if err != nil {
			return end, err
		}
		if fn != nil {
			if err := fn(b[i:end]); err != nil {
				return end, err
			}
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return i, synErr(i, "unexpected end of input in array")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, synErr(i, "want ',' or ']' in array")
		}
	}
}

// validJSON reports whether b is one JSON value (json.Valid, faster).
func validJSON(b []byte) bool {
	end, err := skipValue(b, skipWS(b, 0), 0)
	return err == nil && skipWS(b, end) == len(b)
}

// eachField calls fn for each member of the JSON object v (validating it
// again). The key is unescaped; it is only valid during the call.
func eachField(v []byte, fn func(key, val []byte) error) error {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return errWantObject
	}
	end, err := walkObject(v, i, 1, func(k, val []byte) error {
		if bytes.IndexByte(k, '\\') >= 0 {
			var key string
			if err := json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key); err != nil {
				return err
			}
			k = []byte(key)
		}
		return fn(k, val)
	})
	if err != nil {
		return err
	}
	if skipWS(v, end) != len(v) {
		return synErr(end, "data after the top-level value")
	}
	return nil
}

// eachElem calls fn for each element of the JSON array v; null and an
// absent value (nil) are empty.
func eachElem(v []byte, fn func(elem []byte) error) error {
	if len(v) == 0 || isNull(v) {
		return nil
	}
	if v[0] != '[' {
		return errWantArray
	}
	_, err := walkArray(v, 0, 1, fn)
	return err
}

var (
	errWantObject = errors.New("want a JSON object")
	errWantArray  = errors.New("want an array")
)

func isNull(v []byte) bool { return string(v) == "null" }

// field is one request member the mock reads: into dst (*string and *bool
// are read directly, anything else with json.Unmarshal), or by fn.
type field struct {
	name string
	dst  any
	fn   func(v []byte) error
}

// decodeFields reads the fields of a request body, skipping every other
// member, and answers a provider-style 400 for invalid JSON or a wrong type.
func decodeFields(body []byte, fields ...field) *apiError {
	err := eachField(body, func(key, v []byte) error {
		for _, f := range fields {
			if f.name != string(key) {
				continue
			}
			var err error
			switch {
			case f.fn != nil:
				err = f.fn(v)
			default:
				err = readValue(v, f.dst)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	})
	if err != nil {
		return badRequest("mock upstream: invalid request body: " + err.Error())
	}
	return nil
}

// readValue decodes one JSON value into dst.
func readValue(v []byte, dst any) error {
	switch d := dst.(type) {
	case *string:
		if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
			*d = string(v[1 : len(v)-1])
			return nil
		}
	case *bool:
		switch string(v) {
		case "true":
			*d = true
			return nil
		case "false", "null":
			*d = false
			return nil
		}
	}
	return json.Unmarshal(v, dst)
}

// lastElem returns the number of elements of the array v and its last one.
func lastElem(v []byte) (n int, last []byte, err error) {
	err = eachElem(v, func(e []byte) error {
		n++
		last = e
		return nil
	})
	return n, last, err
}
