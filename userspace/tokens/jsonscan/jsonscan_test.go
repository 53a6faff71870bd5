package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// members decodes the top-level object of b with Member, values as raw JSON.
func members(b []byte) (map[string]json.RawMessage, bool) {
	i := SkipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for i++; ; {
		key, vs, ve, next, ok := Member(b, i)
		if !ok {
			return out, true
		}
		i = next
		var k string
		if err := json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k); err != nil {
			return nil, false
		}
		out[k] = b[vs:ve]
	}
}

// FuzzMembersMatchDecode checks Member against encoding/json on valid
// objects, Unquote against json.Unmarshal on valid strings, and that
// invalid text neither panics nor hangs.
func FuzzMembersMatchDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x\"y","c":{"d":[1,{"e":"}"}]},"f":null}`,
		` { "k" : [ ] , "l\u00e9" : "\ud83d\ude00\ud800\n" } `,
		"{\"bad\":\"\xff\"}",
		`"just \\ a \/ string \b\f\r\t"`,
		`{"a":`, `{"a"`, `[1,}`, `{"a":"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		got, ok := members(b)
		for i := 0; i < len(b); i++ {
			_, _, _ = Element(b, i)
			_ = ValueEnd(b, i)
		}
		if !json.Valid(b) {
			return
		}
		if i := SkipWS(b, 0); b[i] == '"' {
			var want string
			_ = json.Unmarshal(b, &want)
			end := StringEnd(b, i)
			if got := Unquote(nil, b[i+1:end-1]); string(got) != want {
				t.Fatalf("Unquote(%s) = %q, want %q", s, got, want)
			}
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			if ok {
				t.Fatalf("%s is not an object, Member read %v", s, got)
			}
			return
		}
		if !ok || len(got) != len(want) {
			t.Fatalf("%s: members %v, want %v", s, got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("%s: member %q = %s, want %s", s, k, got[k], v)
			}
		}
	})
}
