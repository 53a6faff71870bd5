package steer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/steer/internal/steerbpf"
)

// LinkPin is the pinned netns link below the root.
const LinkPin = "links/steer-netns"

// Options configure New.
type Options struct {
	// Root is the bpffs directory for the pinned maps and link
	// (dataplane.DefaultRoot).
	Root string
	// NetNS is the path of the network namespace to steer in (e.g.
	// /var/run/netns/gw); default the calling thread's.
	NetNS string
	// Logger receives one line per notable event (default: discard).
	Logger *slog.Logger
}

// Steer is the loaded steering program with its maps.
type Steer struct {
	opts Options
	log  *slog.Logger
	coll *ebpf.Collection
	link link.Link

	mu      sync.Mutex // serializes slot allocation, Sync and Register
	applied tables

	closeOnce sync.Once
}

// Supported reports whether this kernel has what steering needs (sk_lookup
// programs and SOCKMAP); the error wraps dataplane.ErrNotSupported or
// dataplane.ErrPermission.
func Supported() error {
	if err := features.HaveProgramType(ebpf.SkLookup); err != nil {
		return classify(fmt.Errorf("sk_lookup programs: %w", err))
	}
	if err := features.HaveMapType(ebpf.SockMap); err != nil {
		return classify(fmt.Errorf("SOCKMAP: %w", err))
	}
	return nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w: %v", dataplane.ErrNotSupported, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %v", dataplane.ErrPermission, err)
	}
	return err
}

// New loads the steering program, reuses or pins its maps under the root
// (so listener slots, rules and counters carry over to the next process)
// and attaches it to the network namespace, or swaps it into the pinned
// link an earlier weir left. dataplane.Unavailable(err) is true when the
// kernel or the process's privileges do not allow steering.
func New(opts Options) (*Steer, error) {
	if opts.Root == "" {
		opts.Root = dataplane.DefaultRoot
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := Supported(); err != nil {
		return nil, fmt.Errorf("steer: %w", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("steer: memlock rlimit: %w", classify(err))
	}
	if err := os.MkdirAll(filepath.Join(opts.Root, filepath.Dir(LinkPin)), 0o700); err != nil {
		return nil, fmt.Errorf("steer: pin root: %w", classify(err))
	}
	spec, err := steerbpf.LoadSteer()
	if err != nil {
		return nil, fmt.Errorf("steer: %w", err)
	}
	var fresh []string // maps this New pins (unpinned again if it fails)
	for name := range spec.Maps {
		if _, err := os.Stat(filepath.Join(opts.Root, name)); errors.Is(err, os.ErrNotExist) {
			fresh = append(fresh, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: opts.Root}})
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("steer: %w: %v", dataplane.ErrIncompatibleMap, err)
		}
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("steer: load: %+v", verr)
		}
		return nil, fmt.Errorf("steer: load: %w", classify(err))
	}
	s := &Steer{opts: opts, log: opts.Logger, coll: coll}
	if err := s.attach(); err != nil {
		for _, name := range fresh {
			coll.Maps[name].Unpin()
		}
		coll.Close()
		os.Remove(filepath.Join(opts.Root, filepath.Dir(LinkPin)))
		os.Remove(opts.Root)
		return nil, err
	}
	return s, nil
}

// attach swaps the program into the pinned link, or attaches and pins one.
func (s *Steer) attach() error {
	prog := s.coll.Programs[steerbpf.SteerProgWeirSteer]
	pin := filepath.Join(s.opts.Root, LinkPin)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		if err := l.Update(prog); err != nil {
			l.Close()
			return fmt.Errorf("steer: update pinned link %s: %w", pin, classify(err))
		}
		s.link = l
		s.log.Info("kernel steering taken over", "link", pin)
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("steer: open pinned link %s: %w", pin, classify(err))
	}
	nsPath := s.opts.NetNS
	if nsPath == "" {
		nsPath = "/proc/thread-self/ns/net"
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("steer: open netns %s: %w", nsPath, err)
	}
	defer ns.Close()
	l, err := link.AttachNetNs(int(ns.Fd()), prog)
	if err != nil {
		return fmt.Errorf("steer: attach sk_lookup to %s: %w", nsPath, classify(err))
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return fmt.Errorf("steer: pin link %s: %w", pin, classify(err))
	}
	s.link = l
	s.log.Info("kernel steering attached", "netns", nsPath, "link", pin)
	return nil
}

func (s *Steer) maps(name string) *ebpf.Map { return s.coll.Maps[name] }

// slot returns the listener's slot, allocating the lowest free one for a new
// name. Slots live in the pinned weir_steer_names map, so the next process
// finds the same slot for the same listener.
func (s *Steer) slot(name string) (uint32, error) {
	if name == "" || len(name) > maxNameLen {
		return 0, fmt.Errorf("listener name %q: want 1-%d bytes", name, maxNameLen)
	}
	names := s.maps(steerbpf.SteerMapWeirSteerNames)
	used := map[uint32]bool{}
	var k uint32
	var v steerbpf.SteerWeirSteerListener
	it := names.Iterate()
	for it.Next(&k, &v) {
		if cString(v.Name[:]) == name {
			return k, nil
		}
		used[k] = true
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("read listener slots: %w", err)
	}
	for k = 0; k < MaxListeners; k++ {
		if used[k] {
			continue
		}
		var nv steerbpf.SteerWeirSteerListener
		for i := range len(name) {
			nv.Name[i] = int8(name[i])
		}
		if err := names.Update(k, &nv, ebpf.UpdateNoExist); err != nil {
			return 0, fmt.Errorf("allocate listener slot for %s: %w", name, err)
		}
		return k, nil
	}
	return 0, fmt.Errorf("listener %s: all %d listener slots are taken", name, MaxListeners)
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// Sync makes the rule maps say what d says: it writes every wanted entry,
// then deletes the ones no longer wanted. A bad Desired changes nothing.
func (s *Steer) Sync(d Desired) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := compile(d, s.slot)
	if err != nil {
		return fmt.Errorf("steer: %w", err)
	}
	ports := s.maps(steerbpf.SteerMapWeirSteerPorts)
	dst := s.maps(steerbpf.SteerMapWeirSteerDst)
	src := s.maps(steerbpf.SteerMapWeirSteerSrc)
	// Rules first, ports last: a port only points at a class whose
	// destinations are in place.
	for k, v := range t.dst {
		if err := dst.Update(k, steerbpf.SteerWeirSteerDstVal{Rule: v[0], Listener: v[1]}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("steer: write destination rule: %w", err)
		}
	}
	for k, v := range t.src {
		if err := src.Update(k, steerbpf.SteerWeirSteerSrcVal{Listener: v}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("steer: write source class: %w", err)
		}
	}
	for p, c := range t.ports {
		if err := ports.Update(p, c, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("steer: write port %d: %w", p, err)
		}
	}
	var errs []error
	errs = append(errs, prune(ports, func(p uint16) bool { _, ok := t.ports[p]; return ok }))
	errs = append(errs, prune(dst, func(k lpmKey) bool { _, ok := t.dst[k]; return ok }))
	errs = append(errs, prune(src, func(k lpmKey) bool { _, ok := t.src[k]; return ok }))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("steer: remove stale entries: %w", err)
	}
	s.applied = t
	return nil
}

// prune deletes the keys of m that keep rejects.
func prune[K comparable](m *ebpf.Map, keep func(K) bool) error {
	var stale []K
	var k K
	var v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !keep(k) {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

// Register puts the listening socket conn (a *net.TCPListener, or anything
// with SyscallConn) into the named listener's slot, replacing whatever
// socket was there: from now on the kernel steers that listener's
// connections to conn. The socket leaves the map when it is closed.
func (s *Steer) Register(name string, conn syscall.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.slot(name)
	if err != nil {
		return fmt.Errorf("steer: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("steer: register %s: %w", name, err)
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) {
		uerr = s.maps(steerbpf.SteerMapWeirSteerSocks).Update(slot, uint64(fd), ebpf.UpdateAny)
	}); err != nil {
		return fmt.Errorf("steer: register %s: %w", name, err)
	}
	if uerr != nil {
		return fmt.Errorf("steer: register %s in slot %d: %w", name, slot, uerr)
	}
	return nil
}

// Close releases this process's handles; the pinned link and maps keep
// steering (to the sockets still open) until the next process takes over.
func (s *Steer) Close() error {
	s.closeOnce.Do(func() {
		if s.link != nil {
			s.link.Close()
		}
		s.coll.Close()
	})
	return nil
}

// Remove detaches the steering a previous process left pinned under root
// (unpinning its link detaches the program) and removes its map pins, for a
// weir whose config no longer asks for steering. It reports whether there
// was anything to remove; it needs no kernel support when there was not.
func Remove(root string) (bool, error) {
	if root == "" {
		root = dataplane.DefaultRoot
	}
	names := []string{LinkPin}
	spec, err := steerbpf.LoadSteer()
	if err != nil {
		return false, fmt.Errorf("steer: %w", err)
	}
	for name := range spec.Maps {
		names = append(names, name)
	}
	removed := false
	var errs []error
	// Detach first: the process that pinned the link may still hold it
	// (during an upgrade), and unpinning alone would leave it attached.
	if l, err := link.LoadPinnedLink(filepath.Join(root, LinkPin), nil); err == nil {
		if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
			errs = append(errs, fmt.Errorf("detach: %w", err))
		}
		l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, name := range names {
		err := os.Remove(filepath.Join(root, name))
		switch {
		case err == nil:
			removed = true
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("steer: remove pins: %w", classify(err))
	}
	return removed, nil
}

// Uninstall detaches the program from the namespace and removes its pins.
func (s *Steer) Uninstall() error {
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Unpin())
	}
	for name, m := range s.coll.Maps {
		if m.IsPinned() {
			if err := m.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpin %s: %w", name, err))
			}
		}
	}
	errs = append(errs, s.Close())
	// The guard may share the root: leave it when it is not empty.
	for _, dir := range []string{filepath.Join(s.opts.Root, filepath.Dir(LinkPin)), s.opts.Root} {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("steer: uninstall: %w", err)
	}
	return nil
}
