package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Attachment kinds, as reported by Attachments.
const (
	KindTCX        = "tcx"
	KindClsBPF     = "cls_bpf"
	KindXDPDriver  = "xdp_driver"
	KindXDPGeneric = "xdp_generic"
)

// cls_bpf placement: priority 1 runs before filters added with defaults;
// the handle and the name identify our filter on restart and on removal.
const (
	clsPriority = 1
	clsHandle   = 0x5745 // "WE"
	clsName     = "weir_guard"
)

// Attachment is where the guard is attached.
type Attachment struct {
	Interface string
	Ifindex   int
	Kind      string
	// LinkID is the bpf_link id (tcx and XDP); 0 for cls_bpf.
	LinkID link.ID
	// Reused is true when a pinned link from an earlier run was taken
	// over (its program swapped in place) instead of attaching anew.
	Reused bool
}

type attachment struct {
	Attachment
	link link.Link // nil for cls_bpf
	pin  string
}

// release closes our handle; a pinned link stays attached.
func (a *attachment) release() error {
	if a.link == nil {
		return nil
	}
	return a.link.Close()
}

// detach removes the attachment from the interface.
func (a *attachment) detach() error {
	if a.link != nil {
		if err := a.link.Unpin(); err != nil {
			return fmt.Errorf("unpin link on %s: %w", a.Interface, err)
		}
		return a.link.Close()
	}
	return removeClsBPF(a.Ifindex)
}

// Attachments lists where the guard is attached.
func (g *Guard) Attachments() []Attachment {
	out := make([]Attachment, 0, len(g.attached))
	for _, a := range g.attached {
		out = append(out, a.Attachment)
	}
	return out
}

// attachAll attaches to every configured interface. On failure, the
// attachments this call created are removed again; taken-over ones stay.
func (g *Guard) attachAll() error {
	for _, name := range g.opts.Interfaces {
		a, err := g.attach(name)
		if err != nil {
			for _, prev := range g.attached {
				if prev.Reused {
					prev.release()
				} else if derr := prev.detach(); derr != nil {
					g.log.Warn("rollback: detach failed", "interface", prev.Interface, "err", derr)
				}
			}
			g.attached = nil
			return fmt.Errorf("dataplane: attach to %s: %w", name, err)
		}
		g.log.Info("guard attached", "interface", name, "kind", a.Kind, "link_id", a.LinkID, "reused", a.Reused)
		g.attached = append(g.attached, a)
	}
	if len(g.opts.Interfaces) == 0 {
		g.log.Warn("guard loaded but attached to no interface (dataplane.guard.interfaces is empty)")
	}
	g.pruneLinks()
	return nil
}

// pruneLinks detaches pinned links under our root that the configuration no
// longer asks for (an interface removed, or the hook changed), so a stale
// attachment does not go on enforcing. Failures are logged, not fatal.
func (g *Guard) pruneLinks() {
	keep := make(map[string]bool, len(g.attached))
	for _, a := range g.attached {
		if a.link != nil {
			keep[a.pin] = true
		}
	}
	dir := filepath.Join(g.opts.Root, linksDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pin := filepath.Join(dir, e.Name())
		if keep[pin] {
			continue
		}
		l, err := link.LoadPinnedLink(pin, nil)
		if err == nil {
			err = l.Unpin()
			l.Close()
		}
		if err != nil {
			g.log.Warn("cannot detach a link the configuration no longer asks for", "pin", pin, "err", err)
			continue
		}
		g.log.Info("detached: no longer configured", "pin", pin)
	}
}

func (g *Guard) attach(name string) (*attachment, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	switch {
	case g.opts.Hook == HookXDP:
		return g.attachXDP(ifc)
	case g.caps.TCX && !g.opts.LegacyTC:
		return g.attachTCX(ifc)
	default:
		return g.attachClsBPF(ifc)
	}
}

func (g *Guard) linkPin(kind string, ifc *net.Interface) string {
	return filepath.Join(g.opts.Root, linksDir, kind+"-"+ifc.Name)
}

// takeOver opens the pinned link at pin and, if it is still attached to
// ifindex with the expected type, swaps our program in atomically
// (BPF_LINK_UPDATE): no packet passes unguarded across an agent restart. A
// stale pin (interface gone or recreated) is removed and nil returned.
func (g *Guard) takeOver(pin string, typ link.Type, ifindex int) (link.Link, error) {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned link %s: %w", pin, err)
	}
	info, err := l.Info()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("pinned link %s: %w", pin, err)
	}
	var idx uint32
	switch {
	case info.Type == link.TCXType && info.TCX() != nil:
		idx = info.TCX().Ifindex
	case info.Type == link.XDPType && info.XDP() != nil:
		idx = info.XDP().Ifindex
	}
	if info.Type != typ || int(idx) != ifindex {
		g.log.Warn("removing stale pinned link", "pin", pin, "type", info.Type, "ifindex", idx, "want_ifindex", ifindex)
		err := l.Unpin()
		l.Close()
		if err != nil {
			return nil, fmt.Errorf("unpin stale link %s: %w", pin, err)
		}
		return nil, nil
	}
	if err := l.Update(g.prog); err != nil {
		l.Close()
		return nil, fmt.Errorf("update program in pinned link %s: %w", pin, err)
	}
	return l, nil
}

func (g *Guard) finish(ifc *net.Interface, kind string, l link.Link, pin string, reused bool) (*attachment, error) {
	a := &attachment{Attachment: Attachment{Interface: ifc.Name, Ifindex: ifc.Index, Kind: kind, Reused: reused}, link: l, pin: pin}
	if !reused {
		if err := l.Pin(pin); err != nil {
			l.Close()
			return nil, fmt.Errorf("pin link: %w", err)
		}
	}
	info, err := l.Info()
	if err != nil {
		return nil, fmt.Errorf("link info: %w", err)
	}
	a.LinkID = info.ID
	return a, nil
}

// attachTCX puts the guard at the head of the interface's tcx ingress
// chain, next to (never instead of) other owners' programs. The program
// returns TCX_NEXT for packets it passes, so those programs still run.
func (g *Guard) attachTCX(ifc *net.Interface) (*attachment, error) {
	pin := g.linkPin(KindTCX, ifc)
	l, err := g.takeOver(pin, link.TCXType, ifc.Index)
	if err != nil {
		return nil, err
	}
	if l != nil {
		return g.finish(ifc, KindTCX, l, pin, true)
	}
	l, err = link.AttachTCX(link.TCXOptions{
		Interface: ifc.Index,
		Program:   g.prog,
		Attach:    ebpf.AttachTCXIngress,
		Anchor:    link.Head(),
	})
	if err != nil {
		return nil, err
	}
	return g.finish(ifc, KindTCX, l, pin, false)
}

// attachXDP attaches in driver mode, falling back to generic (logged). An
// XDP program of another owner is never displaced unless
// ReplaceForeignXDP says so.
func (g *Guard) attachXDP(ifc *net.Interface) (*attachment, error) {
	pin := g.linkPin("xdp", ifc)
	l, err := g.takeOver(pin, link.XDPType, ifc.Index)
	if err != nil {
		return nil, err
	}
	if l != nil {
		return g.finish(ifc, xdpKind(ifc.Index), l, pin, true)
	}
	nl, err := netlink.LinkByIndex(ifc.Index)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	if x := nl.Attrs().Xdp; x != nil && x.Attached {
		if !g.opts.ReplaceForeignXDP {
			return nil, fmt.Errorf("%w: XDP program id %d is attached", ErrInterfaceBusy, x.ProgId)
		}
		g.log.Warn("detaching another owner's XDP program", "interface", ifc.Name, "prog_id", x.ProgId)
		if err := netlink.LinkSetXdpFdWithFlags(nl, -1, xdpDetachFlags(x.AttachMode)); err != nil {
			return nil, fmt.Errorf("%w: cannot detach XDP program id %d: %v", ErrInterfaceBusy, x.ProgId, err)
		}
	}
	kind := KindXDPDriver
	l, err = link.AttachXDP(link.XDPOptions{Program: g.prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
	if err != nil {
		g.log.Warn("XDP driver mode unavailable, using generic mode", "interface", ifc.Name, "err", err)
		kind = KindXDPGeneric
		l, err = link.AttachXDP(link.XDPOptions{Program: g.prog, Interface: ifc.Index, Flags: link.XDPGenericMode})
		if err != nil {
			return nil, err
		}
	}
	return g.finish(ifc, kind, l, pin, false)
}

// xdpKind reads the attach mode of the interface's XDP program.
func xdpKind(ifindex int) string {
	nl, err := netlink.LinkByIndex(ifindex)
	if err == nil && nl.Attrs().Xdp != nil && nl.Attrs().Xdp.AttachMode == xdpAttachedSKB {
		return KindXDPGeneric
	}
	return KindXDPDriver
}

// XDP attach modes (XDP_ATTACHED_*) and flags (XDP_FLAGS_*) of
// linux/if_link.h.
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
	xdpAttachedHW  = 3

	xdpFlagsSKBMode = 1 << 1
	xdpFlagsDrvMode = 1 << 2
	xdpFlagsHWMode  = 1 << 3
)

// xdpDetachFlags returns the flags that address the program attached in
// mode (detaching needs the mode it was attached in).
func xdpDetachFlags(mode uint32) int {
	switch mode {
	case xdpAttachedSKB:
		return xdpFlagsSKBMode
	case xdpAttachedHW:
		return xdpFlagsHWMode
	case xdpAttachedDrv:
		return xdpFlagsDrvMode
	}
	return 0
}

// attachClsBPF is the tc hook for kernels without tcx: a direct-action
// cls_bpf filter on the clsact ingress hook. Replacing our filter (same
// priority and handle) is atomic, so a restart swaps the program without a
// gap. A filter of another owner in our slot is an error.
func (g *Guard) attachClsBPF(ifc *net.Interface) (*attachment, error) {
	nl, err := netlink.LinkByIndex(ifc.Index)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	if err := ensureClsact(nl); err != nil {
		return nil, err
	}
	existing, err := ourFilter(nl)
	if err != nil {
		return nil, err
	}
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifc.Index,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    clsHandle,
			Priority:  clsPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           g.prog.FD(),
		Name:         clsName,
		DirectAction: true,
	}
	if err := netlink.FilterReplace(filter); err != nil {
		return nil, fmt.Errorf("cls_bpf filter: %w", err)
	}
	return &attachment{Attachment: Attachment{Interface: ifc.Name, Ifindex: ifc.Index, Kind: KindClsBPF, Reused: existing}}, nil
}

func ensureClsact(nl netlink.Link) error {
	qdiscs, err := netlink.QdiscList(nl)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			return nil
		}
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: nl.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	return nil
}

// ourFilter reports whether our cls_bpf filter is in place, and fails when
// our slot holds somebody else's.
func ourFilter(nl netlink.Link) (bool, error) {
	filters, err := netlink.FilterList(nl, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return false, fmt.Errorf("list filters: %w", err)
	}
	for _, f := range filters {
		attrs := f.Attrs()
		if attrs.Priority != clsPriority || attrs.Handle != clsHandle {
			continue
		}
		if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, clsName) {
			return true, nil
		}
		return false, fmt.Errorf("%w: tc ingress filter prio %d handle %#x belongs to another program", ErrInterfaceBusy, clsPriority, clsHandle)
	}
	return false, nil
}

// removeClsBPF deletes our filter and, when no filter is left on either
// clsact hook, the clsact qdisc too.
func removeClsBPF(ifindex int) error {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	ours, err := ourFilter(nl)
	if err != nil {
		return err
	}
	if ours {
		err := netlink.FilterDel(&netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS, Handle: clsHandle, Priority: clsPriority, Protocol: unix.ETH_P_ALL,
		}})
		if err != nil {
			return fmt.Errorf("delete cls_bpf filter: %w", err)
		}
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		filters, err := netlink.FilterList(nl, parent)
		if err != nil {
			return fmt.Errorf("list filters: %w", err)
		}
		if len(filters) > 0 {
			return nil
		}
	}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscDel(qdisc); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete clsact qdisc: %w", err)
	}
	return nil
}
