package harness

import (
	bin "encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// pmQoSDevice is the kernel's CPU wake-up latency request (PM QoS): while a
// process holds it open with a value written, no CPU enters an idle state
// whose exit takes longer. tuned's latency-performance profile uses it.
const pmQoSDevice = "/dev/cpu_dma_latency"

// IdleHold keeps idle CPUs polling instead of halting while it is held.
//
// On a VM whose idle CPUs halt (haltpoll with guest_halt_poll_ns=0, or
// deep C-states on bare metal), every wake-up of a sleeping CPU costs an
// exit to the hypervisor or a C-state exit: tens of microseconds that a
// proxy pinned to its own CPU pays four times per request at one request
// at a time, and that direct, on one CPU with the load, never pays. Held,
// those wake-ups cost what the systems' own work costs, for every system
// alike.
type IdleHold struct{ f *os.File }

// HoldPollIdle asks for zero CPU wake-up latency until Release is called
// (or the process exits: the kernel drops the request when the file
// closes). It needs write access to /dev/cpu_dma_latency (root).
func HoldPollIdle() (*IdleHold, error) {
	return holdZeroLatency(pmQoSDevice)
}

func holdZeroLatency(path string) (*IdleHold, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("hold cpu idle: %w", err)
	}
	var zero [4]byte // a native-endian int32 of 0 µs
	if _, err := f.Write(zero[:]); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("hold cpu idle: write %s: %w", path, err)
	}
	return &IdleHold{f: f}, nil
}

// Release gives the request back; idle CPUs may halt again.
func (h *IdleHold) Release() error {
	if h == nil || h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// wakeLatency reads the machine's current CPU wake-up latency limit in
// microseconds (2,000,000,000 when nothing holds it).
func wakeLatency() (int32, error) {
	f, err := os.Open(pmQoSDevice)
	if err != nil {
		return 0, fmt.Errorf("read wake-up latency: %w", err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, fmt.Errorf("read wake-up latency: %w", err)
	}
	return int32(bin.NativeEndian.Uint32(b[:])), nil
}

// IdleDriver names the machine's cpuidle driver and governor, with the
// guest halt-poll window when the driver is haltpoll ("haltpoll/haltpoll,
// guest_halt_poll_ns=0"); empty when /sys does not say.
func IdleDriver() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	driver := read("/sys/devices/system/cpu/cpuidle/current_driver")
	if driver == "" {
		return ""
	}
	s := driver
	if g := read("/sys/devices/system/cpu/cpuidle/current_governor_ro"); g != "" {
		s += "/" + g
	} else if g := read("/sys/devices/system/cpu/cpuidle/current_governor"); g != "" {
		s += "/" + g
	}
	if driver == "haltpoll" {
		if ns := read("/sys/module/haltpoll/parameters/guest_halt_poll_ns"); ns != "" {
			s += ", guest_halt_poll_ns=" + ns
		}
	}
	return s
}
