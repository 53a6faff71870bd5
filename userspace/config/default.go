package config

import _ "embed"

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded configuration weir runs with when no file is
// given: one plain listener on :8080, the admin listener on 127.0.0.1:9901
// and the offline provider answering every model name, so a first run works
// with no key and no network. It is commented to teach the schema; the
// returned slice is a copy the caller may keep.
func Default() []byte {
	return append([]byte(nil), defaultYAML...)
}
