package mockupstream

import (
	"encoding/json"
	"testing"
)

func TestValidJSON(t *testing.T) {
	tests := []string{
		``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":}`, `"x`, `"\q"`, `"\u12g4"`, `"\u1234"`,
		"\"a\x01b\"", `01`, `-`, `-0`, `1.`, `1.5e`, `1.5e+3`, `1E9`, `tru`, `true`, `nul`, `null x`, ` {"a":[1,{"b":null}]} `,
		`{"a":"\ud800"}`, "\"\xff\"", `[[[[]]]]`, `{"a":1}{`, `{1:2}`, `[1 2]`,
	}
	for _, s := range tests {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", s, got, want)
		}
	}
}

func TestDecodeFields(t *testing.T) {
	var (
		model  string
		stream bool
		max    *int
		n      int
	)
	body := `{"model":"m\u00e9","ignored":{"deep":[1,2,{"x":"y"}]},"stream":true,"max_tokens":7,"list":[1,2,3]}`
	e := decodeFields([]byte(body),
		field{name: "model", dst: &model},
		field{name: "stream", dst: &stream},
		field{name: "max_tokens", dst: &max},
		field{name: "list", fn: func(v []byte) (err error) { n, _, err = lastElem(v); return err }},
	)
	if e != nil || model != "mé" || !stream || max == nil || *max != 7 || n != 3 {
		t.Fatalf("decodeFields: %v %q %v %v %d", e, model, stream, max, n)
	}
	for _, bad := range []string{`[]`, `{"model":1}`, `{"stream":"yes"}`, `{"max_tokens":1.5}`, `{"list":{}}`, `{"model":"x"} trailing`} {
		if e := decodeFields([]byte(bad), field{name: "model", dst: &model}, field{name: "stream", dst: &stream},
			field{name: "max_tokens", dst: &max}, field{name: "list", fn: func(v []byte) error { return eachElem(v, func([]byte) error { return nil }) }}); e == nil {
			t.Errorf("decodeFields(%s) accepted it", bad)
		}
	}
}

// FuzzValidJSON checks the request scanner accepts exactly what encoding/json does.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,true,false,null,"\u00e9\n"]}`, `[`, `{"a":1,}`, `"\ud800"`, `-01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}
