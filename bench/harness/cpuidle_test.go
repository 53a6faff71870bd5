package harness

import (
	"os"
	"testing"

	"github.com/weir-gateway/weir/internal/privileged"
)

// TestPrivilegedHoldPollIdle takes the hold and reads the kernel's wake-up
// latency limit back: 0 while held, the old limit again once released.
func TestPrivilegedHoldPollIdle(t *testing.T) {
	privileged.Require(t)
	_, err := os.Stat(pmQoSDevice)
	privileged.RequireTool(t, pmQoSDevice, err)
	before, err := wakeLatency()
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 {
		t.Skip("something else already holds the wake-up latency at 0")
	}
	hold, err := HoldPollIdle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hold.Release() })
	if got, err := wakeLatency(); err != nil || got != 0 {
		t.Fatalf("held: wake-up latency %d µs (%v), want 0", got, err)
	}
	if err := hold.Release(); err != nil {
		t.Fatal(err)
	}
	if got, err := wakeLatency(); err != nil || got != before {
		t.Fatalf("released: wake-up latency %d µs (%v), want %d again", got, err, before)
	}
	if err := hold.Release(); err != nil {
		t.Errorf("second release: %v", err)
	}
}

func TestHoldLatencyErrors(t *testing.T) {
	if _, err := holdZeroLatency(t.TempDir() + "/missing"); err == nil {
		t.Error("holding a missing device succeeded")
	}
	var none *IdleHold
	if err := none.Release(); err != nil {
		t.Errorf("nil hold: %v", err)
	}
}
