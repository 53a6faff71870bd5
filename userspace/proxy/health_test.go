package proxy

import (
	"testing"
	"time"
)

func TestHealthCircuit(t *testing.T) {
	now := time.Unix(0, 0)
	h := NewHealth()
	h.now = func() time.Time { return now }
	var changes []bool
	h.OnChange = func(_ string, healthy bool) { changes = append(changes, healthy) }

	const key = "p/m"
	for i := range 2 {
		if !h.Allow(key) {
			t.Fatalf("closed circuit refused after %d failures", i)
		}
		h.Failure(key, 3, 10*time.Second)
	}
	h.Failure(key, 3, 10*time.Second)
	if h.Allow(key) {
		t.Fatal("circuit should be open after 3 failures")
	}
	now = now.Add(10 * time.Second)
	if !h.Allow(key) {
		t.Fatal("half-open probe refused")
	}
	if h.Allow(key) {
		t.Fatal("second concurrent probe admitted")
	}
	h.Failure(key, 3, 10*time.Second)
	if h.Allow(key) {
		t.Fatal("failed probe must reopen")
	}
	now = now.Add(10 * time.Second)
	if !h.Allow(key) {
		t.Fatal("probe refused")
	}
	h.Success(key)
	for range 2 { // a closed circuit admits every call, not one probe
		if !h.Allow(key) {
			t.Fatal("closed circuit refused")
		}
	}
	if want := []bool{false, true}; len(changes) != 2 || changes[0] != want[0] || changes[1] != want[1] {
		t.Fatalf("changes %v, want %v", changes, want)
	}
}

func TestHealthSuccessResetsCount(t *testing.T) {
	h := NewHealth()
	h.Failure("k", 2, time.Minute)
	h.Success("k")
	h.Failure("k", 2, time.Minute)
	if !h.Allow("k") {
		t.Fatal("failures must be consecutive")
	}
}
