package mockupstream

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Default option values; Options fields left zero take these.
const (
	DefaultWords         = 8
	DefaultThinkingWords = 6
	DefaultEmbeddingDims = 8
	DefaultMaxRecorded   = 10000
	DefaultModel         = "mock-gpt"
)

// ToolArguments is the JSON object every mock tool call carries as its
// arguments (OpenAI arguments string, Anthropic input, Gemini args).
const ToolArguments = `{"query":"mock"}`

// ToolCallTokens is what a tool call adds to the output token count.
const ToolCallTokens = 5

// The tool call ids the mock answers with.
const (
	OpenAIToolCallID    = "call_mock_1"
	AnthropicToolUseID  = "toolu_mock_1"
	ResponsesFunctionID = "fc_mock_1"
)

// toolArgPieces is ToolArguments split the way the streams deliver it, so a
// client has to join argument deltas.
var toolArgPieces = []string{`{"query"`, `:"mo`, `ck"}`}

// Options shape every answer of a Server. The zero value is usable.
type Options struct {
	// Words is the reply length in words (one word is one output token):
	// ReplyText(Words). Default DefaultWords.
	Words int
	// ReplyBytes, when set, overrides Words with the smallest word count whose
	// reply is at least this many bytes long.
	ReplyBytes int
	// Chunks is the number of content chunks a stream carries (each holds at
	// least one word, so it is capped at the word count). Default: one per word.
	Chunks int
	// ChunkDelay is the pause between two content chunks of a stream.
	ChunkDelay time.Duration
	// ThinkingWords is the length of the thinking text produced when a request
	// enables thinking. Default DefaultThinkingWords.
	ThinkingWords int
	// Model, when set, is the model name in every answer; otherwise the
	// request's model is echoed.
	Model string
	// Models are listed by GET /v1/models (default: Model or DefaultModel).
	Models []string
	// APIKey, when set, is the only credential accepted (Authorization Bearer
	// or api-key for OpenAI routes, x-api-key for Anthropic, x-goog-api-key or
	// ?key= for Gemini).
	APIKey string
	// PromptTokens, when set, is the input token count of every answer;
	// otherwise it is PromptTokensFor(body).
	PromptTokens int
	// CachedTokens is reported as cached input (capped at the input count):
	// OpenAI cached_tokens, Anthropic cache_read_input_tokens, Gemini
	// cachedContentTokenCount.
	CachedTokens int
	// EmbeddingDims is the default embedding length. Default DefaultEmbeddingDims.
	EmbeddingDims int
	// MaxRecorded bounds the request recorder (oldest dropped first); -1
	// disables recording. Default DefaultMaxRecorded.
	MaxRecorded int
}

func (o Options) withDefaults() Options {
	if o.Words <= 0 {
		o.Words = DefaultWords
	}
	if o.ReplyBytes > 0 {
		o.Words = wordsForBytes(o.ReplyBytes)
	}
	if o.ThinkingWords <= 0 {
		o.ThinkingWords = DefaultThinkingWords
	}
	if o.EmbeddingDims <= 0 {
		o.EmbeddingDims = DefaultEmbeddingDims
	}
	if o.MaxRecorded == 0 {
		o.MaxRecorded = DefaultMaxRecorded
	}
	if len(o.Models) == 0 {
		if o.Model != "" {
			o.Models = []string{o.Model}
		} else {
			o.Models = []string{DefaultModel}
		}
	}
	return o
}

// PromptTokensFor is the input token count the mock reports for a request
// body when Options.PromptTokens is not set: one token per 4 bytes, at least 1.
func PromptTokensFor(body []byte) int {
	return max(1, (len(body)+3)/4)
}

// ReplyText is the deterministic reply of the given length in words:
// "mock", "mock reply", "mock reply 1", "mock reply 1 2", ...
func ReplyText(words int) string { return strings.Join(textWords("mock reply", words), " ") }

// ThinkingText is the thinking (reasoning) text of the given length in words:
// "mock thinking 1 2 ...".
func ThinkingText(words int) string { return strings.Join(textWords("mock thinking", words), " ") }

// Signature is the signature the mock gives a thinking text. Requests that
// carry an assistant thinking block in their history must carry exactly this
// signature, as the real Anthropic API verifies its own.
func Signature(thinking string) string {
	sum := sha256.Sum256([]byte("weir-mock-signature:" + thinking))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// textWords returns the first n words of prefix followed by 1, 2, 3, ...
func textWords(prefix string, n int) []string {
	if n <= 0 {
		return nil
	}
	head := strings.Fields(prefix)
	out := make([]string, n)
	for i := range out {
		out[i] = wordAt(head, i)
	}
	return out
}

// wordAt is word i of a text that starts with head and counts on from 1.
func wordAt(head []string, i int) string {
	if i < len(head) {
		return head[i]
	}
	return strconv.Itoa(i - len(head) + 1)
}

// pieces splits the words into n chunks of whole words; every chunk after the
// first starts with the space that separates it from the previous one, so the
// chunks concatenate to the text.
func pieces(words []string, n int) []string {
	if len(words) == 0 {
		return nil
	}
	n = max(1, min(n, len(words)))
	out := make([]string, 0, n)
	for i := range n {
		lo, hi := i*len(words)/n, (i+1)*len(words)/n
		s := strings.Join(words[lo:hi], " ")
		if lo > 0 {
			s = " " + s
		}
		out = append(out, s)
	}
	return out
}

// wordsForBytes is the smallest word count whose ReplyText is at least n bytes.
func wordsForBytes(n int) int {
	head := strings.Fields("mock reply")
	w, size := 0, 0
	for size < n {
		if w > 0 {
			size++ // the separating space
		}
		size += len(wordAt(head, w))
		w++
	}
	return max(1, w)
}
