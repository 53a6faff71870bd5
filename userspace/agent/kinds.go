package agent

import (
	"github.com/weir-gateway/weir/userspace/provider/anthropic"
	"github.com/weir-gateway/weir/userspace/provider/gemini"
	"github.com/weir-gateway/weir/userspace/provider/offline"
	"github.com/weir-gateway/weir/userspace/provider/openai"
	"github.com/weir-gateway/weir/userspace/snapshot"
)

// providerKinds lists the built-in provider types.
func providerKinds() map[string]snapshot.Kind {
	return map[string]snapshot.Kind{
		"openai":    {New: openai.New},
		"anthropic": {New: anthropic.New},
		"gemini":    {New: gemini.New},
		"offline":   {New: offline.New, Transport: offline.Transport},
	}
}
