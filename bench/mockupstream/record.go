package mockupstream

import (
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Recorded is one provider request as the mock received it.
type Recorded struct {
	Method string
	Path   string
	// Query is the raw query string (without "?").
	Query  string
	Header http.Header
	Body   []byte
	Time   time.Time
	// Fault is the text form of the fault the request got, "" for none.
	Fault string
}

// QueryValues parses Query.
func (r Recorded) QueryValues() url.Values {
	v, _ := url.ParseQuery(r.Query)
	return v
}

// recorder keeps the last max requests in a ring whose body buffers are
// reused, so recording costs no allocation per request beyond the header copy.
type recorder struct {
	mu   sync.Mutex
	max  int
	ring []Recorded
	seq  []uint64 // seq[i] identifies the request held in ring[i]
	next uint64   // requests recorded so far
}

// add records a request and returns its sequence number (0 when recording is off).
func (rc *recorder) add(r *http.Request, body []byte) uint64 {
	if rc.max < 0 {
		return 0
	}
	now := time.Now()
	h := r.Header.Clone()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.next++
	i := int((rc.next - 1) % uint64(rc.max))
	if i == len(rc.ring) {
		rc.ring = append(rc.ring, Recorded{})
		rc.seq = append(rc.seq, 0)
	}
	e := &rc.ring[i]
	*e = Recorded{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: h,
		Body:   append(e.Body[:0], body...),
		Time:   now,
	}
	rc.seq[i] = rc.next
	return rc.next
}

// setFault notes the fault of request seq, if it is still held.
func (rc *recorder) setFault(seq uint64, fault string) {
	if seq == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	i := int((seq - 1) % uint64(rc.max))
	if i < len(rc.seq) && rc.seq[i] == seq {
		rc.ring[i].Fault = fault
	}
}

func (rc *recorder) list() []Recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]Recorded, 0, len(rc.ring))
	start := 0
	if rc.next > uint64(len(rc.ring)) {
		start = int(rc.next % uint64(rc.max))
	}
	for k := range rc.ring {
		e := rc.ring[(start+k)%len(rc.ring)]
		e.Body = append([]byte(nil), e.Body...)
		e.Header = e.Header.Clone()
		out = append(out, e)
	}
	return out
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ring, rc.seq, rc.next = nil, nil, 0
}
