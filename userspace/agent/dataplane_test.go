package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/userspace/config"
)

func TestDesiredFromConfig(t *testing.T) {
	c := &config.Config{
		Tenants: []config.Tenant{
			{Name: "team-a", Sources: []string{"10.20.0.0/16", "fd00:20::/32"}, Kernel: config.KernelLimits{PacketsPerSecond: 20000, ConnectionsPerSecond: 200}},
			{Name: "keys-only"},
		},
		Dataplane: config.Dataplane{Guard: config.Guard{
			Default: config.KernelLimits{SourceConnectionsPerSecond: 5},
			Deny:    []string{"192.0.2.0/24"},
		}},
	}
	d := desiredFromConfig(c)
	want := dataplane.Desired{
		Tenants: []dataplane.Tenant{
			{Name: "team-a", Sources: []dataplane.Source{{Prefix: netip.MustParsePrefix("10.20.0.0/16")}, {Prefix: netip.MustParsePrefix("fd00:20::/32")}},
				Limits: dataplane.Limits{Packets: dataplane.Rate{PerSecond: 20000, Burst: 20000}, Connections: dataplane.Rate{PerSecond: 200, Burst: 200}}},
			{Name: "keys-only"},
		},
		Default: dataplane.Limits{SourceConnections: dataplane.Rate{PerSecond: 5, Burst: 5}},
		Deny:    []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	if fmt.Sprintf("%+v", d) != fmt.Sprintf("%+v", want) {
		t.Errorf("desired\n got %+v\nwant %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("valid config gives invalid desired: %v", err)
	}
}

// TestDesiredFromConfigNeverDropsSources: a source that does not parse
// (validation should have caught it) must surface in Sync, not vanish.
func TestDesiredFromConfigNeverDropsSources(t *testing.T) {
	d := desiredFromConfig(&config.Config{Tenants: []config.Tenant{{Name: "a", Sources: []string{"10.0.0.0/8", "nonsense"}}}})
	if len(d.Tenants[0].Sources) != 2 {
		t.Fatalf("sources %v", d.Tenants[0].Sources)
	}
	if err := (dataplane.Noop{}).Sync(d); err == nil || !strings.Contains(err.Error(), "tenants[0].sources[1]") {
		t.Errorf("Sync = %v, want the bad source named", err)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, feature string) float64 {
	t.Helper()
	v, ok := gaugeValue(reg, feature)
	if !ok {
		t.Fatalf("weir_dataplane_feature{feature=%q} not exported", feature)
	}
	return v
}

func gaugeValue(reg *prometheus.Registry, feature string) (float64, bool) {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "weir_dataplane_feature" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "feature" && l.GetValue() == feature {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func TestStartDataplaneWithoutGuard(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		ifaces  []string
		wantErr bool
		wantLog string
	}{
		{"off", "off", []string{"eth0"}, false, "kernel guard off"},
		{"auto without interfaces", "auto", nil, false, "interfaces is empty"},
		{"on without interfaces", "on", nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			reg := prometheus.NewPedanticRegistry()
			c := &config.Config{Dataplane: config.Dataplane{Mode: tt.mode, Guard: config.Guard{Hook: "tc", Interfaces: tt.ifaces}}}
			dp, err := startDataplane(context.Background(), c, slog.New(slog.NewTextHandler(&logs, nil)), reg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := dp.(dataplane.Noop); !ok {
				t.Errorf("datapath %T, want dataplane.Noop", dp)
			}
			if gauge(t, reg, "guard") != 0 {
				t.Error("guard gauge is 1 without a guard")
			}
			if strings.Count(logs.String(), "\n") != 1 || !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q, want one line with %q", logs.String(), tt.wantLog)
			}
		})
	}
}

// TestStartDataplaneUnprivileged runs startDataplane without privileges:
// auto falls back with one log line and the L7 path keeps working, on
// fails. As root it re-runs itself as nobody.
func TestStartDataplaneUnprivileged(t *testing.T) {
	for _, mode := range []string{"auto", "on"} {
		t.Run(mode, func(t *testing.T) {
			out := runUnprivileged(t, mode)
			switch mode {
			case "auto":
				if !strings.Contains(out, "result=noop") || strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "guard_gauge=0") {
					t.Errorf("auto without privileges:\n%s", out)
				}
			case "on":
				if !strings.Contains(out, "result=error") || !strings.Contains(out, "not allowed to load eBPF") {
					t.Errorf("on without privileges:\n%s", out)
				}
			}
		})
	}
}

const helperEnv = "WEIR_AGENT_DATAPLANE_HELPER"

// TestHelperUnprivilegedStart is the body of TestStartDataplaneUnprivileged
// in its child process.
func TestHelperUnprivilegedStart(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	fmt.Println(unprivilegedStart(mode))
}

func unprivilegedStart(mode string) string {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	c := &config.Config{Dataplane: config.Dataplane{Mode: mode, Guard: config.Guard{Hook: "tc", Interfaces: []string{"lo"}}}}
	dp, err := startDataplane(context.Background(), c, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	var b strings.Builder
	b.WriteString(logs.String())
	switch {
	case err != nil:
		fmt.Fprintf(&b, "result=error err=%q\n", err)
	default:
		if _, ok := dp.(dataplane.Noop); ok {
			fmt.Fprintln(&b, "result=noop")
		} else {
			fmt.Fprintf(&b, "result=%T\n", dp)
		}
	}
	v, ok := gaugeValue(reg, "guard")
	fmt.Fprintf(&b, "guard_gauge=%v exported=%t\n", v, ok)
	return b.String()
}

func runUnprivileged(t *testing.T, mode string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return unprivilegedStart(mode)
	}
	// Copy the test binary where nobody can run it.
	dir, err := os.MkdirTemp("", "weir-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "agent.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	cmd := exec.Command(bin, "-test.run=^TestHelperUnprivilegedStart$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as nobody: %v\n%s", err, out)
	}
	return string(out)
}

// TestPrivilegedStartDataplane starts the real guard on lo inside a
// throw-away namespace, sends traffic and reads it back from /metrics.
func TestPrivilegedStartDataplane(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weiragent")
	b := make([]byte, 4)
	rand.Read(b)
	root := "/sys/fs/bpf/weir-agent-test-" + hex.EncodeToString(b)
	t.Setenv(dataplaneRootEnv, root)
	c := &config.Config{
		Tenants: []config.Tenant{{Name: "local", Sources: []string{"127.0.0.0/8"}, Kernel: config.KernelLimits{PacketsPerSecond: 1000000}}},
		Dataplane: config.Dataplane{Mode: "on", Guard: config.Guard{Hook: "tc", Interfaces: []string{"lo"},
			Deny: []string{"127.0.0.66/32"}}},
	}
	reg := prometheus.NewPedanticRegistry()
	var dp dataplane.Datapath
	err := ns.Do(func() error {
		var err error
		dp, err = startDataplane(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
		return err
	})
	if err != nil {
		t.Fatalf("startDataplane: %v", err)
	}
	g, ok := dp.(*dataplane.Guard)
	if !ok {
		t.Fatalf("datapath %T, want *dataplane.Guard", dp)
	}
	t.Cleanup(func() {
		if err := g.Uninstall(); err != nil {
			t.Errorf("Uninstall: %v", err)
		}
		if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pins left in %s", root)
		}
	})
	if gauge(t, reg, "guard") != 1 || gauge(t, reg, "tcx") != 1 {
		t.Error("feature gauges do not say the guard runs")
	}
	err = ns.Do(func() error {
		srv, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		for _, from := range []string{"127.0.0.1", "127.0.0.66"} {
			cl, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			for range 3 {
				cl.Write([]byte("x"))
			}
			cl.Close()
		}
		buf := make([]byte, 8)
		got := 0
		for {
			srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := srv.ReadFrom(buf); err != nil {
				break
			}
			got++
		}
		if got != 3 {
			return fmt.Errorf("server got %d datagrams, want the 3 not denied", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP weir_dataplane_packets_total Packets seen by the kernel guard, by tenant and verdict.
# TYPE weir_dataplane_packets_total counter
weir_dataplane_packets_total{tenant="local",verdict="denied"} 3
weir_dataplane_packets_total{tenant="local",verdict="pass"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "weir_dataplane_packets_total"); err != nil {
		t.Error(err)
	}
	// A reload that changes the deny list applies in place.
	c.Dataplane.Guard.Deny = nil
	if err := dp.Sync(desiredFromConfig(c)); err != nil {
		t.Fatal(err)
	}
	if r, err := dataplane.Inspect(root); err != nil || len(r.Deny) != 0 {
		t.Errorf("deny list after reload: %v %v", r, err)
	}
}
