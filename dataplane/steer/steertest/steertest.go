// Package steertest loads the steering program for privileged tests in
// other packages: attached to a test's network namespace, pinned in a fresh
// root, uninstalled at cleanup.
package steertest

import (
	"os"
	"testing"

	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/dataplane/steer"
)

// Attach loads steering into ns with a fresh pin root under /sys/fs/bpf and
// returns it with the root; cleanup uninstalls it and checks the root is
// gone.
func Attach(tb testing.TB, ns *netnstest.NS) (*steer.Steer, string) {
	tb.Helper()
	root := "/sys/fs/bpf/weir-steertest-" + netnstest.Suffix()
	s, err := steer.New(steer.Options{Root: root, NetNS: ns.Path()})
	if err != nil {
		tb.Fatalf("steer.New: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Uninstall(); err != nil {
			tb.Errorf("steer uninstall: %v", err)
		}
		if _, err := os.Stat(root); err == nil {
			os.RemoveAll(root)
			tb.Errorf("pins left behind in %s", root)
		}
	})
	return s, root
}
