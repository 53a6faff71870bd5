// Package tokens estimates the tokens a request will use before it is sent,
// for the rate limiter's reservation: the prompt, counted from the request
// body, plus the most output the request allows.
//
// The prompt is counted with tiktoken's vocabularies where the model family
// is known: o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, gpt-oss and the
// o-series; cl100k_base for gpt-4, gpt-3.5 and text-embedding-*. Other
// models (claude, gemini, llama, aliases, unknown) use a heuristic: ASCII
// bytes / 3.5 plus one token per non-ASCII character, rounded up per text.
// Text beyond ExactBytes per request is not tokenized but extrapolated with
// the tokens per byte of the part that was, which bounds the cost of a huge
// prompt.
//
// Chat-shaped bodies add OpenAI's documented framing: MessageTokens per
// message, NameTokens per message name and ReplyTokens per request. Images,
// audio and files count MediaTokens each. Tool and response-format schemas
// are counted as their JSON text. The estimate only has to be close: the
// limiter settles with the provider's real usage afterwards.
package tokens

import (
	"errors"
	"math/bits"
	"strings"

	"github.com/weir-gateway/weir/userspace/provider"
)

// Documented constants of the estimate.
const (
	// DefaultMaxOutput is the output reserved when a request sets no
	// max_tokens / max_completion_tokens / max_output_tokens.
	DefaultMaxOutput = 1024
	// MessageTokens frame each chat message, ReplyTokens prime the reply,
	// NameTokens mark a message's name (OpenAI's cookbook figures).
	MessageTokens = 3
	ReplyTokens   = 3
	NameTokens    = 1
	// MediaTokens is the estimate for one image, audio clip or file
	// (a 1024×1024 image is 765 tokens at OpenAI, ~1400 at Anthropic).
	MediaTokens = 1024
	// ExactBytes of text per request are counted; the rest is extrapolated.
	ExactBytes = 256 << 10
)

// Methods of a Count.
const (
	MethodO200k     = "o200k_base"
	MethodCl100k    = "cl100k_base"
	MethodHeuristic = "heuristic"
)

// Count is the estimate of one request.
type Count struct {
	// Prompt is the estimated input tokens.
	Prompt int64
	// Output is the most output the request allows (max tokens × n choices),
	// DefaultMaxOutput when unset, 0 for embeddings and count_tokens.
	Output int64
	// Method says how Prompt was counted: MethodO200k, MethodCl100k or
	// MethodHeuristic (also while a vocabulary is still loading).
	Method string
}

// Total is what to reserve: Prompt + Output.
func (c Count) Total() int64 { return c.Prompt + c.Output }

// Warm loads the vocabularies and waits for them. Estimate never waits: it
// starts loading on first use and uses the heuristic until then. Call Warm
// at start-up (in the background) or in tests that need exact counts.
func Warm() error {
	return errors.Join(o200k.wait(), cl100k.wait())
}

// encodingFor picks the vocabulary of a model name, nil for the heuristic.
// Provider prefixes ("openai/gpt-4o"), fine-tune names ("ft:gpt-4o-mini:…")
// and case are ignored.
func encodingFor(model string) *encoding {
	m := strings.ToLower(model)
	m = strings.TrimPrefix(m, "ft:")
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss"} {
		if strings.HasPrefix(m, p) {
			return o200k
		}
	}
	for _, p := range []string{"o1", "o3", "o4"} {
		if m == p || strings.HasPrefix(m, p+"-") {
			return o200k
		}
	}
	for _, p := range []string{"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"} {
		if strings.HasPrefix(m, p) {
			return cl100k
		}
	}
	return nil
}

// counter counts texts of one request within the ExactBytes budget.
type counter struct {
	enc   *encoding
	ranks *vocab
	// exact bytes and tokens counted so far; extra bytes beyond the budget.
	bytes, tokens, extra int64
	// scratch holds the last string that needed decoding.
	scratch []byte
	depth   int
}

func newCounter(model string) *counter {
	c := &counter{enc: encodingFor(model)}
	if c.enc != nil {
		c.ranks = c.enc.ranks()
	}
	return c
}

func (c *counter) method() string {
	if c.ranks == nil {
		return MethodHeuristic
	}
	return c.enc.name
}

func (c *counter) text(s string) {
	if s == "" {
		return
	}
	if c.bytes >= ExactBytes {
		c.extra += int64(len(s))
		return
	}
	if room := ExactBytes - c.bytes; int64(len(s)) > room {
		cut := int(room)
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		c.extra += int64(len(s) - cut)
		s = s[:cut]
	}
	c.bytes += int64(len(s))
	if c.ranks != nil {
		c.tokens += c.enc.count(c.ranks, s)
	} else {
		c.tokens += heuristic(s)
	}
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// total is the counted tokens plus the extrapolated rest.
func (c *counter) total() int64 {
	t := c.tokens
	if c.extra > 0 && c.bytes > 0 {
		t += (c.extra*c.tokens + c.bytes - 1) / c.bytes
	}
	return t
}

// heuristic is ceil(ASCII bytes / 3.5) + non-ASCII characters.
func heuristic(s string) int64 {
	var ascii, other int64
	i := 0
	// Eight bytes at a time (the compiler merges the byte loads into one):
	// a byte's top bit marks non-ASCII, its top two a character's start.
	const top = 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&top == 0 {
			ascii += 8
			continue
		}
		ascii += int64(8 - bits.OnesCount64(w&top))
		other += int64(bits.OnesCount64(w & (w << 1) & top))
	}
	a, o := countBytes(s[i:])
	ascii, other = ascii+a, other+o
	return (ascii*2+6)/7 + other
}

// countBytes counts s's ASCII bytes and its non-ASCII characters (the bytes
// that start one).
func countBytes(s string) (ascii, other int64) {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b < 0x80:
			ascii++
		case isRuneStart(b):
			other++
		}
	}
	return ascii, other
}

// Estimate counts the tokens of a client request body in API api for model.
// Pass the upstream model when it is known (the first target of the route),
// else the client's model. On a body that is not valid JSON for the API it
// returns an error and, usable as a fallback, a heuristic Count of the whole
// body plus DefaultMaxOutput.
func Estimate(api provider.API, model string, body []byte) (Count, error) {
	return estimateChecked(api, model, body, true)
}

// EstimateValid is Estimate for a body the caller has already checked with
// json.Valid (the proxy validates every body before admission), saving a
// second validation. On a body that is not valid JSON it does not panic,
// but its count is unspecified.
func EstimateValid(api provider.API, model string, body []byte) (Count, error) {
	return estimateChecked(api, model, body, false)
}

func estimateChecked(api provider.API, model string, body []byte, validate bool) (Count, error) {
	c, err := estimate(api, model, body, validate)
	if err != nil {
		return Count{Prompt: heuristic(string(body)), Output: DefaultMaxOutput, Method: MethodHeuristic}, err
	}
	return c, nil
}
