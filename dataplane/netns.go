package dataplane

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetNS runs fn with the calling OS thread in the network namespace at
// path (fn runs in the caller's namespace when path is empty). Interface
// lookups, netlink and BPF attach calls resolve interface indexes in the
// thread's namespace. If the original namespace cannot be restored the
// thread stays locked and dies with the goroutine instead of leaking the
// namespace to other goroutines.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("dataplane: current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("dataplane: open netns %s: %w", path, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("dataplane: enter netns %s: %w", path, err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}
