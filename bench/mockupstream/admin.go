package mockupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// faultsRequest is the body of POST /_mock/faults:
//
//	{"enqueue": ["status:500", "reset"], "default": "status:503"}
//
// "default": "" clears the default; leaving it out keeps it.
type faultsRequest struct {
	Enqueue []Fault `json:"enqueue"`
	Default *string `json:"default"`
}

type faultsState struct {
	Queued  []Fault `json:"queued"`
	Default *Fault  `json:"default"`
}

type recordedJSON struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
	Time   time.Time           `json:"time"`
	Fault  string              `json:"fault,omitempty"`
}

// serveAdmin answers the out-of-process control API:
//
//	GET/POST/DELETE /_mock/faults   show, add (faultsRequest), clear faults
//	GET  /_mock/requests            recorded requests, oldest first
//	GET  /_mock/count               {"count": N}
//	POST /_mock/reset               Reset
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_mock/faults":
		switch r.Method {
		case http.MethodGet:
		case http.MethodDelete:
			s.ClearFaults()
		case http.MethodPost:
			var req faultsRequest
			dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				adminError(w, http.StatusBadRequest, "faults: "+err.Error())
				return
			}
			var def *Fault
			if req.Default != nil && *req.Default != "" {
				f, err := ParseFault(*req.Default)
				if err != nil {
					adminError(w, http.StatusBadRequest, "faults: default: "+err.Error())
					return
				}
				def = &f
			}
			if err := s.Enqueue(req.Enqueue...); err != nil {
				adminError(w, http.StatusBadRequest, "faults: "+err.Error())
				return
			}
			if req.Default != nil {
				_ = s.SetDefault(def) // validated by ParseFault
			}
		default:
			adminError(w, http.StatusMethodNotAllowed, "faults: use GET, POST or DELETE")
			return
		}
		q, d := s.Faults()
		adminJSON(w, faultsState{Queued: q, Default: d})
	case "/_mock/requests":
		recs := s.Requests()
		out := make([]recordedJSON, len(recs))
		for i, rec := range recs {
			out[i] = recordedJSON{Method: rec.Method, Path: rec.Path, Query: rec.Query, Header: rec.Header, Body: string(rec.Body), Time: rec.Time, Fault: rec.Fault}
		}
		adminJSON(w, out)
	case "/_mock/count":
		adminJSON(w, map[string]int{"count": s.Count()})
	case "/_mock/reset":
		if r.Method != http.MethodPost {
			adminError(w, http.StatusMethodNotAllowed, "reset: use POST")
			return
		}
		s.Reset()
		adminJSON(w, map[string]bool{"ok": true})
	default:
		adminError(w, http.StatusNotFound, "unknown admin path "+r.URL.Path)
	}
}

func adminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
