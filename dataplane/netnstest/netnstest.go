// Package netnstest builds throw-away network labs for privileged tests: named
// network namespaces joined by veth pairs, with addresses only inside them.
// Work inside a namespace runs on a locked OS thread (Do); sockets created
// there stay in that namespace wherever they are used later. Everything is
// removed with t.Cleanup, and the cleanup checks that it is gone.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a named network namespace.
type NS struct {
	Name string
}

// Path is the namespace's bind mount (for dataplane.Options.NetNS).
func (n *NS) Path() string { return filepath.Join("/var/run/netns", n.Name) }

// Suffix returns a short random string for unique names.
func Suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New creates a namespace named prefix-<random> with lo up, deleted at
// cleanup (and checked to be gone).
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	n := &NS{Name: prefix + "-" + Suffix()}
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		h, err := netns.NewNamed(n.Name) // also enters it
		if err != nil {
			return err
		}
		h.Close()
		return netns.Set(orig)
	})
	if err != nil {
		t.Fatalf("create netns %s: %v", n.Name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(n.Name); err != nil {
			t.Errorf("delete netns %s: %v", n.Name, err)
		}
		if _, err := os.Stat(n.Path()); !os.IsNotExist(err) {
			t.Errorf("netns %s still exists after cleanup", n.Name)
		}
	})
	if err := n.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("netns %s: lo up: %v", n.Name, err)
	}
	return n
}

// Do runs fn inside the namespace on a locked OS thread.
func (n *NS) Do(fn func() error) error {
	return onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		h, err := netns.GetFromName(n.Name)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", n.Name, err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return fmt.Errorf("enter netns %s: %w", n.Name, err)
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it exits with its goroutine.
			panic(fmt.Sprintf("netnstest: cannot return to the original netns: %v", err))
		}
		return ferr
	})
}

// onThread runs fn on a locked OS thread in its own goroutine, so a thread
// whose namespace could not be restored is never reused.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// Veth joins a and b with a veth pair named aName (in a) and bName (in b),
// sets the addresses (CIDR notation) and brings both ends up. The pair dies
// with the namespaces.
func Veth(t testing.TB, a *NS, aName string, aAddrs []string, b *NS, bName string, bAddrs []string) {
	t.Helper()
	err := a.Do(func() error {
		peerNS, err := netns.GetFromName(b.Name)
		if err != nil {
			return err
		}
		defer peerNS.Close()
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: aName},
			PeerName:      bName,
			PeerNamespace: netlink.NsFd(int(peerNS)),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
		return setup(aName, aAddrs)
	})
	if err == nil {
		err = b.Do(func() error { return setup(bName, bAddrs) })
	}
	if err != nil {
		t.Fatalf("veth %s/%s: %v", aName, bName, err)
	}
}

func setup(name string, addrs []string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return err
		}
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		// nodad: IPv6 addresses are usable at once.
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet, Flags: 0x02}); err != nil {
			return fmt.Errorf("add %s to %s: %w", a, name, err)
		}
	}
	return netlink.LinkSetUp(l)
}
