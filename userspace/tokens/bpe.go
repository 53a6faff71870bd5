package tokens

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	loader "github.com/pkoukk/tiktoken-go-loader"
)

// encoding counts tokens of one tiktoken BPE vocabulary.
//
// The vocabulary (merge ranks) is tiktoken's, read from the files embedded
// in github.com/pkoukk/tiktoken-go-loader (no network). Text is split into
// pieces exactly as tiktoken's pre-tokenizer regular expression does, by a
// hand-written scanner (split), and each piece is byte-pair merged by rank.
// tiktoken-go does the same with regexp2 and costs 0.2–0.9 ms per KiB here,
// quadratic in the length of a piece; this counter costs a few µs per KiB.
// Its counts equal tiktoken-go's (TestCountMatchesTiktoken,
// FuzzCountMatchesTiktoken) except for pieces longer than maxPiece bytes.
type encoding struct {
	name  string
	file  string
	split func(s string, i int) int

	once  sync.Once
	ready atomic.Pointer[vocab]
	done  chan struct{}
	err   error
}

// maxPiece bounds the bytes merged at once. Byte-pair merging is quadratic in
// a piece's length; a longer piece (a run of 128+ letters, spaces or
// punctuation, e.g. base64) is merged in chunks, which may count a token
// more per chunk than tiktoken.
const maxPiece = 128

var (
	o200k  = &encoding{name: "o200k_base", file: "o200k_base.tiktoken", split: splitO200k, done: make(chan struct{})}
	cl100k = &encoding{name: "cl100k_base", file: "cl100k_base.tiktoken", split: splitCl100k, done: make(chan struct{})}
)

// ranks returns the vocabulary, or nil while it is still loading: the first
// call starts loading it in the background, so no request waits ~0.1–0.3 s
// for it (requests meanwhile use the heuristic).
func (e *encoding) ranks() *vocab {
	if r := e.ready.Load(); r != nil {
		return r
	}
	e.start()
	return nil
}

func (e *encoding) start() {
	e.once.Do(func() { go e.load() })
}

func (e *encoding) load() {
	defer close(e.done)
	r, err := loader.NewOfflineLoader().LoadTiktokenBpe(e.file)
	if err != nil {
		e.err = fmt.Errorf("tokens: load %s: %w", e.name, err)
		return
	}
	e.ready.Store(newVocab(r))
}

// wait loads the vocabulary if needed and waits for it.
func (e *encoding) wait() error {
	e.start()
	<-e.done
	return e.err
}

// count returns the number of tokens of s. ranks must not be nil.
func (e *encoding) count(ranks *vocab, s string) int64 {
	var n int64
	for i := 0; i < len(s); {
		j := e.split(s, i)
		if j <= i { // never loop, whatever the scanner says
			_, size := utf8.DecodeRuneInString(s[i:])
			j = i + size
		}
		n += pieceTokens(ranks, s[i:j])
		i = j
	}
	return n
}

func pieceTokens(ranks *vocab, p string) int64 {
	if _, ok := ranks.rank(p); ok {
		return 1
	}
	var n int64
	for len(p) > maxPiece {
		cut := maxPiece
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		n += merge(ranks, p[:cut])
		p = p[cut:]
	}
	return n + merge(ranks, p)
}

// merge byte-pair merges p and returns the number of tokens, as tiktoken's
// bytePairMerge: repeatedly join the adjacent pair of lowest rank (leftmost
// on ties) until no pair is in the vocabulary.
func merge(ranks *vocab, p string) int64 {
	if len(p) <= 1 {
		return int64(len(p))
	}
	// bounds[i] is where part i starts (bounds[n] = len(p)); rank[i] is the
	// rank of parts i and i+1 joined.
	var bb, rb [maxPiece + 1]int
	bounds, rank := bb[:len(p)+1], rb[:len(p)]
	for i := range bounds {
		bounds[i] = i
	}
	n := len(p)
	pair := func(i int) int {
		if i+2 <= n {
			if r, ok := ranks.rank(p[bounds[i]:bounds[i+2]]); ok {
				return r
			}
		}
		return math.MaxInt
	}
	for i := 0; i < n-1; i++ {
		rank[i] = pair(i)
	}
	for n > 1 {
		best, at := math.MaxInt, -1
		for i := 0; i < n-1; i++ {
			if rank[i] < best {
				best, at = rank[i], i
			}
		}
		if at < 0 {
			break
		}
		copy(bounds[at+1:], bounds[at+2:n+1])
		copy(rank[at+1:], rank[at+2:n])
		n--
		rank[at] = pair(at)
		if at > 0 {
			rank[at-1] = pair(at - 1)
		}
	}
	return int64(n)
}

// Character classes of the pre-tokenizer patterns.
const (
	cLetter  uint8 = 1 << iota // \p{L}
	cNumber                    // \p{N}
	cSpace                     // \s (unicode.IsSpace, as regexp2)
	cNewline                   // \r or \n
	cUpper                     // o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cLower                     // o200k [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = classify(r)
	}
	return t
}()

func classify(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= cLetter
	}
	if unicode.IsNumber(r) {
		c |= cNumber
	}
	if unicode.IsSpace(r) {
		c |= cSpace
	}
	if r == '\r' || r == '\n' {
		c |= cNewline
	}
	mark := unicode.Is(unicode.M, r)
	if mark || unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo) {
		c |= cUpper
	}
	if mark || unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo) {
		c |= cLower
	}
	return c
}

// at returns the class and size of the rune at s[i] (i < len(s)).
func at(s string, i int) (uint8, int) {
	if b := s[i]; b < utf8.RuneSelf {
		return asciiClass[b], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return classify(r), n
}

// classAt is at for i ≤ len(s); at the end it returns 0 (no class).
func classAt(s string, i int) (uint8, int) {
	if i >= len(s) {
		return 0, 0
	}
	return at(s, i)
}

// isX is [^\r\n\p{L}\p{N}], the optional lead character of a word.
func isX(c uint8) bool { return c&(cNewline|cLetter|cNumber) == 0 }

// isP is [^\s\p{L}\p{N}], punctuation and symbols.
func isP(c uint8) bool { return c&(cSpace|cLetter|cNumber) == 0 }

// run returns the end of the run of runes having class bits want from i.
func run(s string, i int, want uint8) int {
	for i < len(s) {
		c, n := at(s, i)
		if c&want == 0 {
			break
		}
		i += n
	}
	return i
}

// contraction matches (?i:'s|'t|'re|'ve|'m|'ll|'d) at i and returns its end,
// or i. regexp2 lowercases with unicode.ToLower, so only ASCII case applies.
func contraction(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return i
	}
	switch s[i+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return i + 2
	}
	if i+2 < len(s) {
		switch a, b := s[i+1]|0x20, s[i+2]|0x20; {
		case a == 'r' && b == 'e', a == 'v' && b == 'e', a == 'l' && b == 'l':
			return i + 3
		}
	}
	return i
}

// number matches \p{N}{1,3}.
func number(s string, i int) int {
	j := i
	for k := 0; k < 3 && j < len(s); k++ {
		c, n := at(s, j)
		if c&cNumber == 0 {
			break
		}
		j += n
	}
	return j
}

// punct matches ` ?[^\s\p{L}\p{N}]+` followed by a run of tail, or returns i.
func punct(s string, i int, tail string) int {
	j := i
	if s[j] == ' ' {
		j++
	}
	if c, _ := classAt(s, j); j >= len(s) || !isP(c) {
		return i
	}
	for j < len(s) {
		c, n := at(s, j)
		if !isP(c) {
			break
		}
		j += n
	}
	for j < len(s) && containsByte(tail, s[j]) {
		j++
	}
	return j
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// space matches, at a whitespace rune, `\s*[\r\n]+|\s+(?!\S)|\s+`.
func space(s string, i int) int {
	end, lastNL, lastStart, runes := i, -1, i, 0
	for end < len(s) {
		c, n := at(s, end)
		if c&cSpace == 0 {
			break
		}
		if c&cNewline != 0 {
			lastNL = end
		}
		lastStart = end
		end += n
		runes++
	}
	switch {
	case lastNL >= 0: // \s*[\r\n]+ ends after the run's last newline
		return lastNL + 1
	case end == len(s) || runes < 2: // \s+(?!\S) at the end, or \s+
		return end
	default: // \s+(?!\S): leave the last space to the next piece
		return lastStart
	}
}

// splitCl100k returns the end of the piece at s[i] under cl100k_base's
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitCl100k(s string, i int) int {
	if j := contraction(s, i); j > i {
		return j
	}
	c0, n0 := at(s, i)
	if isX(c0) {
		if c1, _ := classAt(s, i+n0); c1&cLetter != 0 {
			return run(s, i+n0, cLetter)
		}
	}
	if c0&cLetter != 0 {
		return run(s, i, cLetter)
	}
	return numberPunctSpace(s, i, c0, n0, "\r\n")
}

// numberPunctSpace matches the alternatives both patterns end with:
// \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[<tail>]*|\s*[\r\n]+|\s+(?!\S)|\s+
func numberPunctSpace(s string, i int, c0 uint8, n0 int, tail string) int {
	if c0&cNumber != 0 {
		return number(s, i)
	}
	if j := punct(s, i, tail); j > i {
		return j
	}
	if c0&cSpace != 0 {
		return space(s, i)
	}
	return i + n0 // unreachable: every rune is a letter, number, space or P
}

// splitO200k returns the end of the piece at s[i] under o200k_base's
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitO200k(s string, i int) int {
	c0, n0 := at(s, i)
	// Each word alternative is tried with the lead character, then without.
	if isX(c0) {
		if j := upperStarLowerPlus(s, i+n0); j > 0 {
			return contraction(s, j)
		}
	}
	if j := upperStarLowerPlus(s, i); j > 0 {
		return contraction(s, j)
	}
	if isX(c0) {
		if j := upperPlusLowerStar(s, i+n0); j > 0 {
			return contraction(s, j)
		}
	}
	if j := upperPlusLowerStar(s, i); j > 0 {
		return contraction(s, j)
	}
	return numberPunctSpace(s, i, c0, n0, "\r\n/")
}

// upperStarLowerPlus matches [U]*[L]+ at j as a backtracking engine does: the
// longest U-run, then backwards to the last position where an L-run can
// start. It returns the end, or -1.
func upperStarLowerPlus(s string, j int) int {
	k := run(s, j, cUpper)
	p := -1
	if c, _ := classAt(s, k); c&cLower != 0 {
		p = k
	} else {
		for q := k; q > j; {
			r, n := utf8.DecodeLastRuneInString(s[j:q])
			q -= n
			var c uint8
			if r < utf8.RuneSelf {
				c = asciiClass[r]
			} else {
				c = classify(r)
			}
			if c&cLower != 0 {
				p = q
				break
			}
		}
	}
	if p < 0 {
		return -1
	}
	return run(s, p, cLower)
}

// upperPlusLowerStar matches [U]+[L]* at j; it returns the end, or -1.
func upperPlusLowerStar(s string, j int) int {
	k := run(s, j, cUpper)
	if k == j {
		return -1
	}
	return run(s, k, cLower)
}
