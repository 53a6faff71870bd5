package tokens

import (
	"hash/maphash"
	"math/bits"
)

// vocab maps a token's bytes to its merge rank, like the map[string]int the
// loader returns, but in three pointer-free arrays. The garbage collector
// has nothing to follow in them; the map held some 300,000 separately
// allocated strings (o200k and cl100k are both warmed at start-up), which
// every collection marked again: about 14 MB that made most of weir's live
// heap and most of each collection's work, on every request's path.
type vocab struct {
	blob  []byte   // every token's bytes, back to back
	toks  []token  // the tokens, in no order
	slots []uint32 // open addressing by hash: an index into toks plus one, 0 when empty
	seed  maphash.Seed
}

type token struct {
	off, n uint32 // blob[off : off+n]
	rank   int32
}

// newVocab copies m. Ranks must fit in an int32 and the vocabulary in 4 GiB.
func newVocab(m map[string]int) *vocab {
	v := &vocab{toks: make([]token, 0, len(m)), seed: maphash.MakeSeed()}
	size := 0
	for k := range m {
		size += len(k)
	}
	v.blob = make([]byte, 0, size)
	// At most half full: linear probes stay short.
	v.slots = make([]uint32, 1<<bits.Len(uint(2*len(m))))
	mask := uint64(len(v.slots) - 1)
	for k, r := range m {
		v.toks = append(v.toks, token{off: uint32(len(v.blob)), n: uint32(len(k)), rank: int32(r)})
		v.blob = append(v.blob, k...)
		i := maphash.String(v.seed, k) & mask
		for v.slots[i] != 0 {
			i = (i + 1) & mask
		}
		v.slots[i] = uint32(len(v.toks))
	}
	return v
}

// rank returns the merge rank of s, and whether s is a token.
func (v *vocab) rank(s string) (int, bool) {
	mask := uint64(len(v.slots) - 1)
	for i := maphash.String(v.seed, s) & mask; ; i = (i + 1) & mask {
		j := v.slots[i]
		if j == 0 {
			return 0, false
		}
		t := &v.toks[j-1]
		if int(t.n) == len(s) && string(v.blob[t.off:t.off+t.n]) == s {
			return int(t.rank), true
		}
	}
}

// len is the number of tokens.
func (v *vocab) len() int { return len(v.toks) }
