package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/dataplane/steer"
	"github.com/weir-gateway/weir/dataplane/steer/steertest"
	"github.com/weir-gateway/weir/internal/privileged"
)

var updateSteer = flag.Bool("update-steer", false, "rewrite testdata/steer.golden")

func TestSteerUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
	}{
		{"help", []string{"-h"}, 0, "usage: weirctl steer [-root DIR] [-json]"},
		{"bad flag", []string{"-x"}, 2, "flag provided but not defined: -x"},
		{"extra argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"nothing pinned", []string{"-root", filepath.Join(t.TempDir(), "nope")}, 1, "no steering maps pinned under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := steerMain(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Fatalf("steer %v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderrHas)
			}
		})
	}
}

// TestPrivilegedSteer prints the steering table of a real, attached
// program after one steered connection.
func TestPrivilegedSteer(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weirctl-steer")
	s, root := steertest.Attach(t, ns)
	var ln net.Listener
	if err := ns.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	pfx := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	if err := s.Sync(steer.Desired{
		Rules: []steer.Rule{
			{Listener: "public", Destinations: pfx("127.0.0.0/8"), Ports: []steer.PortRange{{First: port, Last: port}}},
			{Listener: "public", Destinations: pfx("fd00::/64"), Ports: []steer.PortRange{{First: 7000, Last: 7099}}},
		},
		Classes: []steer.Class{{Name: "team-a", Listener: "team-a", Sources: pfx("10.20.0.0/16")}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("public", ln.(*net.TCPListener)); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := steerMain([]string{"-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := strings.ReplaceAll(stdout.String(), root, "ROOT")
	got = strings.ReplaceAll(got, itoa(port), "PORT")
	golden := filepath.Join("testdata", "steer.golden")
	if *updateSteer {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("weirctl steer:\n%s\nwant (%s, -update-steer to rewrite):\n%s", got, golden, want)
	}

	stdout.Reset()
	if code := steerMain([]string{"-root", root, "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-json exit %d: %s", code, stderr.String())
	}
	var r steer.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Listeners) != 2 || r.Listeners[0].Steered != 1 || !r.Listeners[0].Socket || r.Listeners[1].Socket {
		t.Fatalf("-json listeners: %+v", r.Listeners)
	}
	// weirctl maps shows the same steering table after the guard's (none is
	// pinned here, so it exits 1 for the guard but still prints steering).
	stdout.Reset()
	stderr.Reset()
	mapsMain([]string{"-root", root}, &stdout, &stderr)
	mapsOut := strings.ReplaceAll(strings.ReplaceAll(stdout.String(), root, "ROOT"), itoa(port), "PORT")
	if !strings.Contains(mapsOut, "steering (sk_lookup):") || !strings.Contains(mapsOut, strings.TrimPrefix(string(want), "pins: ROOT\n")) {
		t.Fatalf("weirctl maps lacks the steering table:\n%s", stdout.String())
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
