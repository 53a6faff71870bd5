package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
)

func encodingJSON(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "nl\n\r\t\x00\x1f", "<html>&", "é日本", "\u2028\u2029", "bad\xffutf8", "\xe2\x80"} {
		t.Run(s, func(t *testing.T) {
			if got, want := AppendString(nil, s), encodingJSON(s); !bytes.Equal(got, want) {
				t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
			}
		})
	}
}

// FuzzAppendString holds AppendString to encoding/json's output.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"a", "\"\\", "\u2028", "\xff", "\x00<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString([]byte("x"), s), append([]byte("x"), encodingJSON(s)...); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
