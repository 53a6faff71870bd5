package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/netnstest"
	"github.com/weir-gateway/weir/internal/privileged"
)

// The flag is not called -update so it cannot clash with one main_test.go
// may grow.
var updateMaps = flag.Bool("update-maps", false, "rewrite testdata/maps.golden")

func TestMapsUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
	}{
		{"help", []string{"-h"}, 0, "usage: weirctl maps [-root DIR] [-json]"},
		{"bad flag", []string{"-x"}, 2, "flag provided but not defined: -x"},
		{"extra argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"nothing pinned", []string{"-root", filepath.Join(t.TempDir(), "nope")}, 1, "no kernel guard pinned under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := mapsMain(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderrHas)
			}
		})
	}
	if _, ok := commands["maps"]; !ok {
		t.Error("maps is not registered")
	}
}

// TestPrivilegedMaps pins a guard on lo in a throw-away namespace, sends
// traffic, stops the guard's owner (Close) and reads everything back the way
// an operator would: from the pins alone.
func TestPrivilegedMaps(t *testing.T) {
	privileged.Require(t)
	ns := netnstest.New(t, "weirctl")
	b := make([]byte, 4)
	rand.Read(b)
	root := "/sys/fs/bpf/weirctl-test-" + hex.EncodeToString(b)
	opts := dataplane.Options{Root: root, Interfaces: []string{"lo"}, NetNS: ns.Path()}
	g, err := dataplane.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Reopen to uninstall: the test closed its handle like a stopped agent.
		g2, err := dataplane.New(opts)
		if err == nil {
			err = g2.Uninstall()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	rate := func(n uint64) dataplane.Rate { return dataplane.Rate{PerSecond: n, Burst: n} }
	err = g.Sync(dataplane.Desired{
		Tenants: []dataplane.Tenant{
			{Name: "local", Sources: []dataplane.Source{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}},
			{Name: "team-a", Sources: []dataplane.Source{{Prefix: netip.MustParsePrefix("10.20.0.0/16")}, {Prefix: netip.MustParsePrefix("10.20.0.0/16"), Port: 443}},
				Limits: dataplane.Limits{Packets: rate(20000), Connections: dataplane.Rate{PerSecond: 200, Burst: 50}, SourceConnections: rate(10)}},
		},
		Default: dataplane.Limits{Connections: rate(5)},
		Deny:    []netip.Prefix{netip.MustParsePrefix("127.0.0.66/32"), netip.MustParsePrefix("2001:db8:dead::/48")},
		Ports: []dataplane.PortRule{
			{Port: 8080, Proto: dataplane.TCP, Drop: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
				SourceConnections: dataplane.Rate{PerSecond: 2, Burst: 10}, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			{Port: 8443, Proto: dataplane.UDP, Drop: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Block("team-a", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	err = ns.Do(func() error {
		srv, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		for _, from := range []string{"127.0.0.1", "127.0.0.66"} {
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			c.Write([]byte("hello"))
			c.Write([]byte("hello"))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := mapsMain([]string{"-root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// Ids of links and programs, and the remaining block, vary per run.
	got := strings.ReplaceAll(stdout.String(), root, "ROOT")
	got = regexp.MustCompile(`link \d+, program \d+`).ReplaceAllString(got, "link N, program N")
	got = regexp.MustCompile(`(team-a .*) (59m59s|1h0m0s) `).ReplaceAllString(got, "$1 ~1h   ")
	golden := filepath.Join("testdata", "maps.golden")
	if *updateMaps {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("weirctl maps output differs from %s (-update-maps to accept):\n%s", golden, got)
	}

	stdout.Reset()
	if code := mapsMain([]string{"-root", root, "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-json exit %d: %s", code, stderr.String())
	}
	var r dataplane.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("-json output: %v", err)
	}
	if len(r.Tenants) != 3 || len(r.Links) != 1 || len(r.Counters) != 2 {
		t.Errorf("json report %+v", r)
	}
}
