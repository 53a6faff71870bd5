package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
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

var validSeeds = []string{
	`{"a":[1,-2.5e+3,0,true,false,null,"x\u00e9\n\"\\\/"],"b":{}}`, ` [ ] `, `"s"`, `0`, `-0.0E-0`, `1e5`,
	`01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `{"a"}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{,}`, `tru`, `nul`, `truex`,
	"\"ctl\x01\"", "\"tab\tin\"", `"\x"`, `"\u12g4"`, `"\u12"`, `"unterminated`, `{"a":1}}`, `{"a":1} x`,
	"\"\xff\xfe invalid utf8 is fine\"", ``, ` `, `[`, `{`, `"\`, `{"a":[{"b":[{"c":null}]}]}`,
	` { "a" : 1 , "a" : [ ] , "k\u00e9y" : { "n" : "}" } } `, `{"usage":{"x":1},"error":null}`, `{"a":1,"b":}`,
}

// FuzzValidMatchesStdlib checks Valid against encoding/json.Valid.
func FuzzValidMatchesStdlib(f *testing.F) {
	for _, s := range validSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", s, got, want)
		}
		checkValidObject(t, []byte(s))
	})
}

// checkValidObject checks ValidObject against json.Valid, and the members
// it hands out against Member's.
func checkValidObject(t *testing.T, b []byte) {
	t.Helper()
	type member struct {
		key    string
		vs, ve int
	}
	var got []member
	valid, object := ValidObject(b, func(key []byte, vs, ve int) { got = append(got, member{string(key), vs, ve}) })
	i := SkipWS(b, 0)
	if want := json.Valid(b); valid != want {
		t.Fatalf("ValidObject(%q) valid = %v, json.Valid = %v", b, valid, want)
	}
	if want := i < len(b) && b[i] == '{'; object != want {
		t.Fatalf("ValidObject(%q) object = %v, want %v", b, object, want)
	}
	if !valid || !object {
		return
	}
	var want []member
	for i++; ; {
		key, vs, ve, next, ok := Member(b, i)
		if !ok {
			break
		}
		want = append(want, member{string(key), vs, ve})
		i = next
	}
	if len(got) != len(want) {
		t.Fatalf("ValidObject(%q) members %v, Member %v", b, got, want)
	}
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("ValidObject(%q) members %v, Member %v", b, got, want)
		}
	}
}

func TestValidMatchesStdlib(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, s := range append(validSeeds, deep(10000), deep(10001), strings.Repeat(`{"a":`, 10001)+"1"+strings.Repeat("}", 10001)) {
		name := s
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
				t.Fatalf("Valid = %v, json.Valid = %v", got, want)
			}
			checkValidObject(t, []byte(s))
		})
	}
}

func BenchmarkValid(b *testing.B) {
	body := []byte(`{"model":"mock-gpt","max_tokens":50,"messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"` +
		strings.Repeat("lorem ipsum \u00e9 ", 70) + `"}],"stream":true,"stream_options":{"include_usage":true}}`)
	for _, tc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"jsonscan", Valid}, {"encoding-json", json.Valid}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !tc.valid(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
