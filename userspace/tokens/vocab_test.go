package tokens

import (
	"testing"

	loader "github.com/pkoukk/tiktoken-go-loader"
)

// TestVocabMatchesMap looks up every token of both vocabularies, and
// strings that are not tokens, in vocab and in the loader's map.
func TestVocabMatchesMap(t *testing.T) {
	for _, enc := range []*encoding{o200k, cl100k} {
		t.Run(enc.name, func(t *testing.T) {
			m, err := loader.NewOfflineLoader().LoadTiktokenBpe(enc.file)
			if err != nil {
				t.Fatal(err)
			}
			v := newVocab(m)
			if v.len() != len(m) {
				t.Fatalf("vocab holds %d tokens, map %d", v.len(), len(m))
			}
			missing := 0
			for k, want := range m {
				if got, ok := v.rank(k); !ok || got != want {
					t.Fatalf("rank(%q) = %d, %v; want %d", k, got, ok, want)
				}
				if _, ok := m[k+"\x00\xff"]; !ok {
					if r, ok := v.rank(k + "\x00\xff"); ok {
						t.Fatalf("rank(%q) = %d for a string that is not a token", k+"\x00\xff", r)
					}
					missing++
				}
			}
			if _, ok := v.rank(""); ok {
				t.Fatal("the empty string is a token")
			}
			if missing < len(m)/2 {
				t.Fatalf("only %d absent strings looked up", missing)
			}
		})
	}
}
