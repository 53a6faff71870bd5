package quicsteer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Errors callers can test with errors.Is to fall back to a single socket.
var (
	// ErrPermission: the process may not load the program (it needs
	// CAP_BPF; sk_reuseport is not a CAP_NET_ADMIN program type).
	ErrPermission = fmt.Errorf("quicsteer: not allowed to load eBPF: %w", os.ErrPermission)
	// ErrNotSupported: the kernel lacks sk_reuseport programs or
	// REUSEPORT_SOCKARRAY maps (Linux < 4.19).
	ErrNotSupported = fmt.Errorf("quicsteer: kernel feature missing: %w", ebpf.ErrNotSupported)
)

// ErrIncompatiblePin means a map pinned under Options.PinDir has another
// layout than this build's (an older weir); steering can still load
// unpinned, without handing connections over across an upgrade.
var ErrIncompatiblePin = errors.New("quicsteer: pinned map is incompatible with this build")

// DefaultPinRoot is where PinDir puts each address's maps.
const DefaultPinRoot = "/sys/fs/bpf/weir/quic"

// PinDir is the pin directory of the SO_REUSEPORT group bound to addr:
// one per address, as each address is its own group. bpffs refuses names
// with dots, so 127.0.0.1:8443 becomes 127_0_0_1_8443.
func PinDir(root string, addr *net.UDPAddr) string {
	host := "any"
	if addr.IP != nil && !addr.IP.IsUnspecified() {
		host = strings.NewReplacer(".", "_", ":", "_", "%", "_").Replace(addr.IP.String())
	}
	return filepath.Join(root, fmt.Sprintf("%s_%d", host, addr.Port))
}

// Options configure Load.
type Options struct {
	// CIDLen is the fixed length of weir's CIDs (MinCIDLen..20).
	CIDLen int
	// PinDir, when set, is the bpffs directory the socket map and the
	// newest-generation map are pinned in (created if missing), shared by
	// every weir process serving the address. Empty: private maps.
	PinDir string
}

// Program is the loaded steering program and its maps. Attach it to one
// socket of a SO_REUSEPORT group, put every socket of this process into the
// map with SetSocket, then take new connections with SetNewest.
type Program struct {
	objs   steerObjects
	pinDir string

	mu    sync.Mutex
	slots int // highest slot set + 1
}

// Load loads the program with the CID length baked in.
func Load(o Options) (*Program, error) {
	if o.CIDLen < MinCIDLen || o.CIDLen > 20 {
		return nil, fmt.Errorf("quicsteer: cid length %d out of range [%d, 20]", o.CIDLen, MinCIDLen)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("quicsteer: memlock rlimit: %w", classify(err))
	}
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("quicsteer: spec: %w", err)
	}
	if err := spec.Variables[steerVarWeirQuicCidLen].Set(uint8(o.CIDLen)); err != nil {
		return nil, fmt.Errorf("quicsteer: set cid length: %w", err)
	}
	var opts ebpf.CollectionOptions
	p := &Program{pinDir: o.PinDir}
	if o.PinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := os.MkdirAll(o.PinDir, 0o700); err != nil {
			return nil, fmt.Errorf("quicsteer: pin dir: %w", classify(err))
		}
		opts.Maps.PinPath = o.PinDir
	}
	if err := spec.LoadAndAssign(&p.objs, &opts); err != nil {
		if o.PinDir != "" {
			removeEmptyUp(o.PinDir)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("%w: %s: %v", ErrIncompatiblePin, o.PinDir, err)
		}
		return nil, fmt.Errorf("quicsteer: load: %w", classify(err))
	}
	return p, nil
}

// Pinned reports whether the maps are shared through PinDir.
func (p *Program) Pinned() bool { return p.pinDir != "" }

// Unpin removes the pins (the maps live on while referenced) and the
// directories left empty; for the last process of an address, and tests.
func (p *Program) Unpin() error {
	if p.pinDir == "" {
		return nil
	}
	err := errors.Join(p.objs.WeirQuicSockets.Unpin(), p.objs.WeirQuicNewest.Unpin())
	removeEmptyUp(p.pinDir)
	return err
}

// removeEmptyUp removes dir and then its parents while they are empty. It
// stops at the first directory holding anything else (other addresses'
// pins, the guard's) and at the bpffs mount point, which rmdir refuses.
func removeEmptyUp(dir string) {
	for d := filepath.Clean(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// FreeGeneration returns a generation no other process of the address uses:
// none of its sockets is in the map at slot 0 (every process has a slot 0)
// and it is not the newest. It starts at a random one.
func (p *Program) FreeGeneration() (uint8, error) {
	newest, err := p.Newest()
	if err != nil {
		return 0, err
	}
	var r [1]byte
	_, _ = rand.Read(r[:])
	var cookie uint64
	for i := range MaxGenerations {
		gen := uint8(int(r[0]) + i)
		if newest.Workers > 0 && uint32(gen) == newest.Generation {
			continue
		}
		err := p.objs.WeirQuicSockets.Lookup(key(gen, 0), &cookie)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return gen, nil
		}
		if err != nil {
			return 0, fmt.Errorf("quicsteer: generation %d: %w", gen, err)
		}
	}
	return 0, errors.New("quicsteer: all 256 generations are in use")
}

func key(gen uint8, slot int) uint32 { return uint32(gen)<<8 | uint32(slot) }

// classify maps EPERM and missing kernel features to the package sentinels.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return err
}

// Attach makes the program select sockets for the SO_REUSEPORT group of c.
// Attaching to one socket covers the whole group.
func (p *Program) Attach(c syscall.Conn) error {
	return control(c, "attach", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, p.objs.WeirQuicSteer.FD())
	})
}

// SetSocket puts c (bound, SO_REUSEPORT, in the attached group) at gen and
// slot. The kernel removes it when it closes.
func (p *Program) SetSocket(gen uint8, slot int, c syscall.Conn) error {
	if slot < 0 || slot >= MaxSlots {
		return fmt.Errorf("quicsteer: slot %d out of range [0, %d)", slot, MaxSlots)
	}
	err := control(c, "set socket", func(fd int) error {
		return p.objs.WeirQuicSockets.Update(key(gen, slot), uint64(fd), ebpf.UpdateAny)
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.slots = max(p.slots, slot+1)
	p.mu.Unlock()
	return nil
}

// Newest is the generation that takes new connections.
type Newest struct {
	Generation uint32
	// Workers is its number of sockets; 0 means no generation takes new
	// connections and the group hash decides.
	Workers uint32
}

// Newest reads the newest generation.
func (p *Program) Newest() (Newest, error) {
	var v steerWeirQuicCurrent
	if err := p.objs.WeirQuicNewest.Lookup(uint32(0), &v); err != nil {
		return Newest{}, fmt.Errorf("quicsteer: read newest: %w", err)
	}
	return Newest{Generation: v.Generation, Workers: v.Workers}, nil
}

// SetNewest sends new connections to workers sockets of gen (slots 0 to
// workers-1, all set with SetSocket), e.g. once a new process is ready.
func (p *Program) SetNewest(gen uint8, workers int) error {
	if workers < 0 || workers > MaxSlots {
		return fmt.Errorf("quicsteer: %d workers out of range [0, %d]", workers, MaxSlots)
	}
	v := steerWeirQuicCurrent{Generation: uint32(gen), Workers: uint32(workers)}
	if err := p.objs.WeirQuicNewest.Update(uint32(0), &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("quicsteer: set newest: %w", err)
	}
	return nil
}

func control(c syscall.Conn, op string, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("quicsteer: %s: %w", op, err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("quicsteer: %s: %w", op, err)
	}
	if ferr != nil {
		return fmt.Errorf("quicsteer: %s: %w", op, classify(ferr))
	}
	return nil
}

// Counters are the program's counters summed over CPUs.
type Counters struct {
	// Steered has one entry per slot set with SetSocket.
	Steered []uint64
	// Fallbacks is indexed by Fallback.
	Fallbacks [fallbackMax]uint64
}

// Counters reads the per-CPU counters.
func (p *Program) Counters() (Counters, error) {
	p.mu.Lock()
	n := p.slots
	p.mu.Unlock()
	c := Counters{Steered: make([]uint64, n)}
	var perCPU []uint64
	sum := func(idx uint32) (uint64, error) {
		if err := p.objs.WeirQuicCounters.Lookup(idx, &perCPU); err != nil {
			return 0, fmt.Errorf("quicsteer: read counter %d: %w", idx, err)
		}
		var s uint64
		for _, v := range perCPU {
			s += v
		}
		return s, nil
	}
	var err error
	for i := range n {
		if c.Steered[i], err = sum(uint32(i)); err != nil {
			return Counters{}, err
		}
	}
	for i := range fallbackMax {
		if c.Fallbacks[i], err = sum(uint32(MaxSlots + i)); err != nil {
			return Counters{}, err
		}
	}
	return c, nil
}

// Close releases the program and maps. Sockets the program is attached to
// keep it until they close.
func (p *Program) Close() error {
	return p.objs.Close()
}

// ListenReusePort binds a UDP socket with SO_REUSEPORT, so several sockets
// of this process can share addr and form the group the program steers in.
func ListenReusePort(ctx context.Context, network, addr string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("quicsteer: listen %s (reuseport): %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}
