package tokens

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/weir-gateway/weir/userspace/schema/jsonscan"
)

// Estimating used to decode the body into a struct and every message into
// map[string]any: three passes over the JSON and an allocation per string,
// ~30 µs per KiB of chat. The walk below reads the body once after json.Valid
// and allocates nothing for text without escapes. Whatever it cannot read
// exactly as a decoder would (a key spelled with escapes or in another case,
// duplicate keys, a number where an integer belongs) goes to the decoding
// path, which stays the reference (TestScanMatchesDecode, FuzzScanMatchesDecode).

// topFields are the members of body, as json tags.
var topFields = [...]string{"messages", "system", "tools", "functions", "response_format", "prompt", "suffix",
	"input", "instructions", "text", "max_tokens", "max_completion_tokens", "max_output_tokens", "n"}

// decodeBody fills b from raw like json.Unmarshal, which it falls back to for
// invalid JSON (for its error; validate false skips that check) and for
// anything the fast scan does not read exactly.
func decodeBody(raw []byte, b *body, validate bool) error {
	if (validate && !jsonscan.Valid(raw)) || !scanBody(raw, b) {
		*b = body{}
		return json.Unmarshal(raw, b)
	}
	return nil
}

// scanBody reads the top-level members of the valid JSON raw into b; false
// means "decode instead".
func scanBody(raw []byte, b *body) bool {
	i := jsonscan.SkipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	for {
		key, vs, ve, next, ok := jsonscan.Member(raw, i)
		if !ok {
			return true
		}
		i = next
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		v := raw[vs:ve]
		switch string(key) {
		case "messages":
			b.Messages = v
		case "system":
			b.System = v
		case "tools":
			b.Tools = v
		case "functions":
			b.Functions = v
		case "response_format":
			b.ResponseFormat = v
		case "prompt":
			b.Prompt = v
		case "suffix":
			b.Suffix = v
		case "input":
			b.Input = v
		case "instructions":
			b.Instructions = v
		case "text":
			b.Text = v
		case "max_tokens":
			if !scanInt(v, &b.MaxTokens) {
				return false
			}
		case "max_completion_tokens":
			if !scanInt(v, &b.MaxCompletionTokens) {
				return false
			}
		case "max_output_tokens":
			if !scanInt(v, &b.MaxOutputTokens) {
				return false
			}
		case "n":
			if !scanInt(v, &b.N) {
				return false
			}
		default:
			// encoding/json matches field names case-insensitively.
			for _, f := range topFields {
				if len(key) == len(f) && bytes.EqualFold(key, []byte(f)) {
					return false
				}
			}
		}
	}
}

// scanInt sets *p from an integer or null; false for anything else.
func scanInt(v []byte, p **int64) bool {
	if string(v) == "null" {
		*p = nil
		return true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return false
	}
	*p = &n
	return true
}

// keyString is a member key as a decoder sees it.
func keyString(key []byte, scratch []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 {
		return key
	}
	return jsonscan.Unquote(scratch[:0], key)
}

// stringValue returns the decoded content of the JSON string v. It is a view
// of v when nothing needs decoding, else it is decoded into c.scratch: valid
// until the next call.
func (c *counter) stringValue(v []byte) []byte {
	if len(v) < 2 {
		return nil
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	c.scratch = jsonscan.Unquote(c.scratch[:0], s)
	return c.scratch
}

// view is b as a string without copying; the counter never keeps it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// walkRaw counts the valid JSON value v like walk counts its decoded form,
// and returns the fixed tokens it found.
func (c *counter) walkRaw(v []byte, tokenArrays bool) int64 {
	if len(v) == 0 || c.depth >= maxDepth {
		return 0
	}
	switch v[0] {
	case '"':
		s := c.stringValue(v)
		if bytes.HasPrefix(s, []byte("data:")) {
			return MediaTokens
		}
		c.text(view(s))
		return 0
	case '[':
		c.depth++
		defer func() { c.depth-- }()
		var n int64
		for i := 1; ; {
			vs, ve, ok := jsonscan.Element(v, i)
			if !ok {
				return n
			}
			n += c.walkRaw(v[vs:ve], tokenArrays)
			i = ve
		}
	case '{':
		c.depth++
		defer func() { c.depth-- }()
		return c.walkObject(v, tokenArrays)
	case 't', 'f', 'n':
		return 0
	}
	if tokenArrays {
		return 1
	}
	return 0
}

// span is one object member: key (decoded) and value.
type span struct {
	key    []byte
	vs, ve int
}

// walkObject counts an object: media parts as MediaTokens, tool_use inputs
// as their JSON text, skipKeys not at all, every other member walked.
func (c *counter) walkObject(v []byte, tokenArrays bool) int64 {
	var buf [8]span
	members := buf[:0]
	media, toolUse := false, false
	for i := 1; ; {
		key, vs, ve, next, ok := jsonscan.Member(v, i)
		if !ok {
			break
		}
		i = next
		if bytes.IndexByte(key, '\\') >= 0 {
			key = jsonscan.Unquote(nil, key)
		}
		if len(members) == maxMembers {
			return c.walkDecoded(v, tokenArrays)
		}
		for _, m := range members {
			if bytes.Equal(m.key, key) {
				// Duplicate keys: the decoder keeps the last; let it decide.
				return c.walkDecoded(v, tokenArrays)
			}
		}
		members = append(members, span{key, vs, ve})
		if string(key) == "type" && v[vs] == '"' {
			t := c.stringValue(v[vs:ve])
			media = mediaTypes[string(t)]
			toolUse = string(t) == "tool_use" || string(t) == "server_tool_use"
		}
	}
	if media {
		return MediaTokens
	}
	var n int64
	for _, m := range members {
		switch {
		case skipKeys[string(m.key)]:
		case toolUse && string(m.key) == "input":
			c.toolInput(v[m.vs:m.ve])
		default:
			n += c.walkRaw(v[m.vs:m.ve], tokenArrays)
		}
	}
	return n
}

// maxDepth bounds the nesting walkRaw follows, as encoding/json bounds what
// it accepts, so input that is not valid JSON cannot exhaust the stack.
const maxDepth = 10000

// maxMembers bounds the duplicate-key check (quadratic); larger objects are
// decoded instead.
const maxMembers = 64

// walkDecoded counts v through the decoding path (walk), for what the scan
// leaves to it.
func (c *counter) walkDecoded(v []byte, tokenArrays bool) int64 {
	var d any
	if err := json.Unmarshal(v, &d); err != nil {
		return 0
	}
	return c.walk(d, tokenArrays)
}

// toolInput counts a tool_use input as the JSON text json.Marshal gives its
// decoded value (keys sorted, no spaces), as walk does.
func (c *counter) toolInput(v []byte) {
	var d any
	if json.Unmarshal(v, &d) != nil {
		return
	}
	if js, err := json.Marshal(d); err == nil {
		c.text(string(js))
	}
}

// hasKey reports whether the object v has a member named name.
func hasKey(v []byte, name string) bool {
	var scratch [32]byte
	for i := 1; ; {
		key, _, _, next, ok := jsonscan.Member(v, i)
		if !ok {
			return false
		}
		i = next
		if string(keyString(key, scratch[:])) == name {
			return true
		}
	}
}
