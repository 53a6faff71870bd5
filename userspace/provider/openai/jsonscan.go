package openai

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/weir-gateway/weir/userspace/schema/jsonscan"
)

// The translators inspect a few fields of bodies they otherwise pass through
// byte for byte. Decoding whole bodies would allocate every string of a
// conversation on every request and every chunk, so this file walks JSON
// that jsonscan.Valid accepted, finding value spans without decoding them. Every
// index is bounds-checked: on invalid input the walk stops, it never panics.

// object iterates the members of the JSON object starting at b[start].
type object struct {
	b    []byte
	i    int
	open int // index of '{'
	n    int // members seen
}

// newObject starts iterating the object at or after b[i]; ok is false when
// the value there is not an object.
func newObject(b []byte, i int) (object, bool) {
	i = jsonscan.SkipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return object{}, false
	}
	return object{b: b, i: i + 1, open: i}, true
}

// next returns the next member: its key without quotes (still escaped) and
// its value's span. ok is false at the closing brace, whose index then is o.i.
func (o *object) next() (key []byte, vs, ve int, ok bool) {
	key, vs, ve, o.i, ok = jsonscan.Member(o.b, o.i)
	if ok {
		o.n++
	}
	return key, vs, ve, ok
}

// pick sets vals[i] to the value of the member named keys[i] (the last one,
// as decoders see duplicates), leaving the others nil.
func (o *object) pick(keys []string, vals [][]byte) {
	for {
		key, vs, ve, ok := o.next()
		if !ok {
			return
		}
		for i, k := range keys {
			if keyIs(key, k) {
				vals[i] = o.b[vs:ve]
			}
		}
	}
}

// array iterates the elements of the JSON array starting at b[start].
type array struct {
	b []byte
	i int
}

func newArray(b []byte) (array, bool) {
	i := jsonscan.SkipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return array{}, false
	}
	return array{b: b, i: i + 1}, true
}

// next returns the next element's span.
func (a *array) next() (vs, ve int, ok bool) {
	vs, ve, ok = jsonscan.Element(a.b, a.i)
	if ok {
		a.i = ve
	}
	return vs, ve, ok
}

// keyIs reports whether a raw (still escaped) key equals want, as a JSON
// decoder would see it, so "mod\u0065l" cannot smuggle a second model past
// the rewrite.
func keyIs(key []byte, want string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == want
	}
	var s string
	q := make([]byte, 0, len(key)+2)
	q = append(append(append(q, '"'), key...), '"')
	return json.Unmarshal(q, &s) == nil && s == want
}

// field returns the value of the first member named key of the object v, or nil.
func field(v []byte, key string) []byte {
	o, ok := newObject(v, 0)
	if !ok {
		return nil
	}
	for {
		k, vs, ve, ok := o.next()
		if !ok {
			return nil
		}
		if keyIs(k, key) {
			return v[vs:ve]
		}
	}
}

// nonEmptyString reports whether v is a string with at least one character.
func nonEmptyString(v []byte) bool { return len(v) > 2 && v[0] == '"' }

// nonEmptyArray reports whether v is an array with at least one element.
func nonEmptyArray(v []byte) bool {
	return len(v) > 0 && v[0] == '[' && jsonscan.SkipWS(v, 1) < len(v) && v[jsonscan.SkipWS(v, 1)] != ']'
}

// isNull reports whether v is absent or null.
func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }

// stringValue decodes a JSON string value; anything else gives "".
func stringValue(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}
