package proxy

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/weir-gateway/weir/userspace/provider"
)

// models answers GET /v1/models with the exact model names the caller may
// use, in OpenAI's list shape, or Anthropic's when the client sends
// anthropic-version.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	snap := h.Store.Load()
	api := provider.OpenAIChat
	anthropic := r.Header.Get("anthropic-version") != ""
	if anthropic {
		api = provider.AnthropicMessages
	}
	var names []string
	if h.Admission != nil {
		var aerr *APIError
		names, aerr = h.Admission.Models(snap, r)
		if aerr != nil {
			writeError(w, api, aerr)
			return
		}
	} else {
		names = snap.Routes.Names(nil)
	}
	created := snap.LoadedAt.Unix()
	var body any
	if anthropic {
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		list := struct {
			Data    []model `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{Data: []model{}}
		for _, n := range names {
			list.Data = append(list.Data, model{Type: "model", ID: n, DisplayName: n, CreatedAt: snap.LoadedAt.UTC().Format(time.RFC3339)})
		}
		if len(names) > 0 {
			list.FirstID, list.LastID = &names[0], &names[len(names)-1]
		}
		body = list
	} else {
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list", Data: []model{}}
		for _, n := range names {
			list.Data = append(list.Data, model{ID: n, Object: "model", Created: created, OwnedBy: "weir"})
		}
		body = list
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
