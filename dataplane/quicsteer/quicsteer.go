package quicsteer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
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

// Options configure Load.
type Options struct {
	// Generation is byte 0 of every CID this process issues.
	Generation uint8
	// CIDLen is the fixed length of those CIDs (MinCIDLen..20).
	CIDLen int
}

// Program is the loaded steering program and its maps. Attach it to one
// socket of a SO_REUSEPORT group, then put every socket of the group into
// its slot with SetSocket.
type Program struct {
	objs steerObjects

	mu    sync.Mutex
	slots int // highest slot set + 1
}

// Load loads the program with the generation and CID length baked in.
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
	if err := spec.Variables[steerVarWeirQuicGeneration].Set(o.Generation); err != nil {
		return nil, fmt.Errorf("quicsteer: set generation: %w", err)
	}
	if err := spec.Variables[steerVarWeirQuicCidLen].Set(uint8(o.CIDLen)); err != nil {
		return nil, fmt.Errorf("quicsteer: set cid length: %w", err)
	}
	p := &Program{}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("quicsteer: load: %w", classify(err))
	}
	return p, nil
}

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

// SetSocket puts c (bound, SO_REUSEPORT, in the attached group) into slot.
func (p *Program) SetSocket(slot int, c syscall.Conn) error {
	if slot < 0 || slot >= MaxSlots {
		return fmt.Errorf("quicsteer: slot %d out of range [0, %d)", slot, MaxSlots)
	}
	err := control(c, "set socket", func(fd int) error {
		return p.objs.WeirQuicSockets.Update(uint32(slot), uint64(fd), ebpf.UpdateAny)
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.slots = max(p.slots, slot+1)
	p.mu.Unlock()
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
