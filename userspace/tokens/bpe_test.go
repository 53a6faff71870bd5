package tokens

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	tiktoken "github.com/pkoukk/tiktoken-go"
	loader "github.com/pkoukk/tiktoken-go-loader"
)

// reference returns tiktoken-go's encoder (offline vocabulary), the oracle
// our counter must agree with.
var reference = sync.OnceValues(func() (map[string]*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(loader.NewOfflineLoader())
	out := map[string]*tiktoken.Tiktoken{}
	for _, name := range []string{MethodO200k, MethodCl100k} {
		e, err := tiktoken.GetEncoding(name)
		if err != nil {
			return nil, err
		}
		out[name] = e
	}
	return out, nil
})

func warm(t testing.TB) {
	t.Helper()
	if err := Warm(); err != nil {
		t.Fatal(err)
	}
}

var corpus = []string{
	"Hello, world!",
	"The quick brown fox jumps over the lazy dog.",
	"I'm sure they'll say we've DONE it; DON'T they? She'd, he's, you're, I'M, WE'LL",
	"'s 't 're 've 'm 'll 'd 'S 'RE 'x '",
	"you'dbetter x'Dy 'dzz it'sokay WE'REready they'llbe 'mmm I'vegot",
	"getHTTPResponseCode camelCase snake_case kebab-case SCREAMING_CASE XMLHttpRequest",
	"func main() {\n\tfmt.Println(\"hi\")\n}\n",
	"def f(x):\n    if x:\n        return x ** 2\n    return None\n",
	`{"key": [1, 2.5, -3e10], "nested": {"a": null, "b": true}}`,
	"1234567890 3.14159 1,000,000 ٣٤٥ ½ Ⅻ",
	"a  b\t\tc\n\n  d   \r\n\r\n e \n",
	"trailing spaces   ",
	"   leading spaces",
	"\n\n\n",
	" ",
	"",
	"你好，世界！这是一个测试。",
	"日本語のテキストとカタカナ、ひらがな。",
	"한국어 텍스트입니다.",
	"مرحبا بالعالم",
	"नमस्ते दुनिया, यह परीक्षण है।",
	"café naïve façade résumé Ångström",
	"e\u0301 a\u0308 combining\u0301marks \u0301lead",
	"👍🏽 🎉🎉 👨‍👩‍👧 emoji!",
	"ǅemal ǈubav ʰaspirated ˈstress",
	"https://example.com/a/b?c=d&e=f#frag /usr/local/bin //comment",
	"<|endoftext|> <|fim_prefix|> special tokens are text here",
	"a\u00a0b\u3000c\u2028d\u2029e\u0085f\u000bg\u000ch",
	"Ünïcödé ÜBER Straße STRASSE ǆ",
	"$$$ !!! ??? ... --- === *** ///\n\n",
	"x/\ny\r\n/z",
	strings.Repeat("abc", 40),
	strings.Repeat("na", 30) + " batman",
}

func TestCountMatchesTiktoken(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	warm(t)
	all := strings.Join(corpus, " ")
	for _, enc := range []*encoding{o200k, cl100k} {
		for _, s := range append(corpus, all) {
			want := int64(len(ref[enc.name].EncodeOrdinary(s)))
			if got := enc.count(enc.ranks(), s); got != want {
				t.Errorf("%s: count(%q) = %d, tiktoken-go says %d", enc.name, s, got, want)
			}
		}
	}
}

// TestCountMatchesTiktokenRandom compares on random strings drawn from
// runes of every class the pre-tokenizers distinguish (fixed seed).
func TestCountMatchesTiktokenRandom(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	warm(t)
	alphabet := []rune("aZsStTdDlLrReEvVmM'’ \t\n\r\v\u00a0\u3000\u2028/.,!?-_=$09٣½Ⅻ你好カナ한ǅʰˈ\u0301\u0308\u093e\u0940éÜß👍\U0001F3FD\u200d")
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var b strings.Builder
		for range 1 + rnd.IntN(40) {
			b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
		}
		s := b.String()
		for _, enc := range []*encoding{o200k, cl100k} {
			want := int64(len(ref[enc.name].EncodeOrdinary(s)))
			if got := enc.count(enc.ranks(), s); got != want {
				t.Fatalf("case %d %s: count(%q) = %d, tiktoken-go says %d", i, enc.name, s, got, want)
			}
		}
	}
}

// FuzzCountMatchesTiktoken compares the counter with tiktoken-go on valid
// UTF-8 (JSON strings always are) with pieces up to maxPiece bytes.
func FuzzCountMatchesTiktoken(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	ref, err := reference()
	if err != nil {
		f.Fatal(err)
	}
	warm(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || len(s) > 2048 {
			return
		}
		for _, enc := range []*encoding{o200k, cl100k} {
			for i := 0; i < len(s); {
				j := enc.split(s, i)
				if j <= i {
					t.Fatalf("%s: split(%q, %d) = %d does not advance", enc.name, s, i, j)
				}
				if j-i > maxPiece {
					return // chunked: may differ by design
				}
				i = j
			}
			want := int64(len(ref[enc.name].EncodeOrdinary(s)))
			if got := enc.count(enc.ranks(), s); got != want {
				t.Fatalf("%s: count(%q) = %d, tiktoken-go says %d", enc.name, s, got, want)
			}
		}
	})
}

// TestLongPiecesAreBounded is the case tiktoken-go takes seconds on: one
// piece of 100k spaces (quadratic merging). Chunking keeps it linear and
// close to the exact count.
func TestLongPiecesAreBounded(t *testing.T) {
	warm(t)
	tests := []struct {
		name string
		s    string
	}{
		{"spaces", strings.Repeat(" ", 100_000) + "x"},
		{"letters", strings.Repeat("aGVsbG8gd29ybGQ", 7000)},
		{"punctuation", strings.Repeat("=-", 50_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := o200k.count(o200k.ranks(), tt.s)
			// Every token is at least one byte and a chunk of maxPiece bytes
			// is at least one token.
			if n < int64(len(tt.s)/maxPiece) || n > int64(len(tt.s)) {
				t.Fatalf("count = %d for %d bytes", n, len(tt.s))
			}
		})
	}
}

func TestMerge(t *testing.T) {
	ranks := newVocab(map[string]int{"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "cab": 6})
	tests := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"a", 1},
		{"ab", 1},
		{"abc", 1},   // ab (3) before bc (4), then abc
		{"cabc", 2},  // ab, then c+ab=cab (6) vs ab+c=abc (5): abc first → c, abc
		{"abab", 2},  // ab, ab; abab unknown
		{"xyz", 3},   // nothing merges
		{"aabc", 2},  // ab then abc: a, abc
		{"cccc", 4},  // cc unknown
		{"abcab", 2}, // ab ab → abc (5) → abc, ab
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := merge(ranks, tt.in); got != tt.want {
				t.Fatalf("merge(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func BenchmarkCount(b *testing.B) {
	warm(b)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; it's 2024, isn't it? ", 16)[:1024]
	for _, enc := range []*encoding{o200k, cl100k} {
		b.Run(enc.name+"/1KiB", func(b *testing.B) {
			ranks := enc.ranks()
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				enc.count(ranks, text)
			}
		})
	}
	b.Run("tiktoken-go/o200k_base/1KiB", func(b *testing.B) {
		ref, err := reference()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			ref[MethodO200k].EncodeOrdinary(text)
		}
	})
}
