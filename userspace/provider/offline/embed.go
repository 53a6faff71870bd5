package offline

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"

	schema "github.com/weir-gateway/weir/userspace/schema/openai"
)

// DefaultDimensions is the length of an offline embedding unless the
// request's "dimensions" asks otherwise.
const DefaultDimensions = 8

// maxDimensions bounds the "dimensions" parameter.
const maxDimensions = 4096

// maxInputs bounds the number of inputs of one embeddings request.
const maxInputs = 2048

func embeddings(req *http.Request, body []byte) (*http.Response, *apiError) {
	var r schema.EmbeddingRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if len(r.Input) == 0 {
		return nil, badRequest("input", "input is required")
	}
	inputs, prompt, aerr := promptInputs(r.Input, "input")
	if aerr != nil {
		return nil, aerr
	}
	if len(inputs) > maxInputs {
		return nil, badRequest("input", "at most %d inputs per request, got %d", maxInputs, len(inputs))
	}
	dims := DefaultDimensions
	if r.Dimensions != nil {
		dims = *r.Dimensions
		if dims < 1 || dims > maxDimensions {
			return nil, badRequest("dimensions", "dimensions must be between 1 and %d, got %d", maxDimensions, dims)
		}
	}
	if r.EncodingFormat != "" && r.EncodingFormat != "float" && r.EncodingFormat != "base64" {
		return nil, badRequest("encoding_format", "encoding_format must be \"float\" or \"base64\", got %q", r.EncodingFormat)
	}
	out := schema.EmbeddingResponse{Object: "list", Model: r.Model, Usage: &schema.EmbeddingUsage{PromptTokens: prompt, TotalTokens: prompt}}
	for i, in := range inputs {
		v := Embed(in, dims)
		var raw []byte
		if r.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			raw, _ = json.Marshal(base64.StdEncoding.EncodeToString(b))
		} else {
			raw, _ = json.Marshal(v)
		}
		out.Data = append(out.Data, schema.Embedding{Object: "embedding", Index: i, Embedding: raw})
	}
	return jsonResponse(req, out), nil
}

// Embed is the offline embedding of text: a deterministic unit vector of
// dims components derived from FNV-1a hashes of the text, so equal texts
// get equal vectors and different texts almost surely different ones.
// It carries no meaning.
func Embed(text string, dims int) []float32 {
	v := make([]float32, dims)
	var sum float64
	var idx [8]byte
	for i := range v {
		h := fnv.New64a()
		binary.LittleEndian.PutUint64(idx[:], uint64(i))
		h.Write(idx[:])
		h.Write([]byte(text))
		// Top 53 bits → [0, 1) → [-1, 1).
		x := float64(h.Sum64()>>11)/(1<<53)*2 - 1
		v[i] = float32(x)
		sum += x * x
	}
	if sum == 0 {
		v[0], sum = 1, 1
	}
	norm := math.Sqrt(sum)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}
