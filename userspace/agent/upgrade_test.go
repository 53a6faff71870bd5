package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/dataplane/steer"
	"github.com/weir-gateway/weir/dataplane/steer/steertest"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/server"
)

func TestUpgradeEnviron(t *testing.T) {
	in := []string{"PATH=/bin", upgradeReadyEnv + "=3", server.UpgradeAddrsEnv + "=public=127.0.0.1:1", "WEIR_UPGRADE_READY_FDX=keep"}
	got := upgradeEnviron(in)
	want := []string{"PATH=/bin", "WEIR_UPGRADE_READY_FDX=keep"}
	if !slices.Equal(got, want) {
		t.Fatalf("upgradeEnviron = %q, want %q", got, want)
	}
	if in[1] != upgradeReadyEnv+"=3" {
		t.Fatal("upgradeEnviron modified its input")
	}
}

func TestNotifyUpgradeParent(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		fd, err := syscall.Dup(int(w.Fd()))
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(upgradeReadyEnv, strconv.Itoa(fd))
		t.Setenv(server.UpgradeAddrsEnv, "public=127.0.0.1:1")
		if err := notifyUpgradeParent(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil || line != fmt.Sprintf("ready %d\n", os.Getpid()) {
			t.Fatalf("pipe got %q, %v", line, err)
		}
		for _, k := range []string{upgradeReadyEnv, server.UpgradeAddrsEnv} {
			if _, ok := os.LookupEnv(k); ok {
				t.Errorf("%s still set after the notification", k)
			}
		}
	})
	t.Run("not an upgrade", func(t *testing.T) {
		if err := notifyUpgradeParent(); err != nil {
			t.Fatal(err)
		}
	})
	for _, bad := range []string{"x", "1", "-4"} {
		t.Run("bad "+bad, func(t *testing.T) {
			t.Setenv(upgradeReadyEnv, bad)
			err := notifyUpgradeParent()
			if err == nil || !strings.Contains(err.Error(), "is not an inherited file descriptor") {
				t.Fatalf("notifyUpgradeParent with %q: %v", bad, err)
			}
		})
	}
}

func TestNotifySystemd(t *testing.T) {
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", l.LocalAddr().String())
	if err := notifySystemd(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != fmt.Sprintf("READY=1\nMAINPID=%d\n", os.Getpid()) {
		t.Fatalf("notify socket got %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	if err := notifySystemd(); err == nil {
		t.Fatal("no error for a notify socket nobody listens on")
	}
}

func TestSteerDesired(t *testing.T) {
	raw := `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}, {name: team-a, address: "127.0.0.1:0"}]
providers: [{name: p, type: openai, base_url: "http://127.0.0.1:9/v1"}]
models: [{name: m, targets: [{provider: p}]}]
tenants:
  - {name: a, keys: [{sha256: "` + strings.Repeat("ab", 32) + `"}], sources: ["10.20.0.0/16", "fd00:20::/48"]}
dataplane:
  steer:
    rules: [{listener: public, destinations: ["10.96.0.0/16"], ports: ["80", "8000-8099"]}, {listener: public, ports: ["443"]}]
    tenants: [{tenant: a, listener: team-a}]
`
	c, err := config.Load([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := steerDesired(c)
	got := fmt.Sprintf("%+v", d)
	want := "{Rules:[{Listener:public Destinations:[10.96.0.0/16] Ports:[80 8000-8099]} {Listener:public Destinations:[] Ports:[443]}] Classes:[{Name:a Listener:team-a Sources:[10.20.0.0/16 fd00:20::/48]}]}"
	if got != want {
		t.Fatalf("steerDesired:\n got %s\nwant %s", got, want)
	}
}

// TestPrivilegedSyncSteering: a reload rewrites the running steering's
// rules; without running steering it only says when rules take effect.
func TestPrivilegedSyncSteering(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weirsteer")
	s, root := steertest.Attach(t, ns)
	load := func(rules string) *config.Config {
		t.Helper()
		c, err := config.Load([]byte(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
providers: [{name: p, type: openai, base_url: "http://127.0.0.1:9/v1"}]
models: [{name: m, targets: [{provider: p}]}]
dataplane: {steer: {rules: ` + rules + `}}
`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var logs bytes.Buffer
	a := &Agent{log: slog.New(slog.NewTextHandler(&logs, nil)), steer: &steering{steer: s}}
	for _, tc := range []struct{ rules, dst, ports string }{
		{`[{listener: public, destinations: ["10.96.0.0/16"], ports: ["80"]}]`, "10.96.0.0/16", "80"},
		{`[{listener: public, destinations: ["10.97.0.0/24"], ports: ["8000-8001"]}]`, "10.97.0.0/24", "8000-8001"},
	} {
		a.syncSteering(load(tc.rules))
		r, err := steer.Inspect(root)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Rules) != 1 || r.Rules[0].Destination != tc.dst || len(r.Ports) != 1 || r.Ports[0].Ports != tc.ports {
			t.Fatalf("after syncing %s: rules %+v ports %+v", tc.rules, r.Rules, r.Ports)
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("unexpected log: %s", logs.String())
	}
	idle := &Agent{log: a.log, steer: &steering{}}
	idle.syncSteering(load(`[{listener: public, ports: ["80"]}]`))
	if !strings.Contains(logs.String(), "take effect on the next upgrade") {
		t.Fatalf("no hint without running steering: %q", logs.String())
	}
}
