// Package privileged gates tests that need root: they skip when not root,
// unless WEIR_REQUIRE_PRIVILEGED=1 (set by CI), where a skip is a failure.
package privileged

import (
	"os"
	"testing"
)

// Required reports whether privileged tests must run (CI).
func Required() bool { return os.Getenv("WEIR_REQUIRE_PRIVILEGED") == "1" }

// Require skips t when the process is not root, or fails it when privileged
// tests are required.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if Required() {
		t.Fatal("privileged test needs root, and WEIR_REQUIRE_PRIVILEGED=1 forbids skipping it")
	}
	t.Skip("privileged test: run as root (or with WEIR_REQUIRE_PRIVILEGED=1 in CI)")
}

// RequireTool fails (when required) or skips t when a program is missing.
func RequireTool(t testing.TB, path string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if Required() {
		t.Fatalf("%s is required (WEIR_REQUIRE_PRIVILEGED=1): %v", path, err)
	}
	t.Skipf("%s not available: %v", path, err)
}
