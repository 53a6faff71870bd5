package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/userspace/config"
)

const unitFile = "systemd/weir.service"

// unit is a parsed systemd unit: section → key → values in file order.
type unit map[string]map[string][]string

// parseUnit reads the subset of systemd's unit syntax our unit uses:
// sections, "Key=value" lines, comments; no line continuations.
func parseUnit(data string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: continuation lines are not supported by this parser", n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is not Key=value inside a section", n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u, sc.Err()
}

// one returns the single value of a key, failing when it is set 0 or 2+ times.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s is set %d times, want once", section, key, len(v))
	}
	return v[0]
}

// words returns the space-separated words of every value of a key.
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// analyzeVerify runs systemd-analyze verify on the unit text, with ExecStart's
// binary replaced by exe (verify requires the command to exist and be
// executable, and the test machine has no weir installed in /usr/local/bin).
// It returns what verify printed: systemd-analyze exits 0 even for unknown
// keys and unparsable values, so any output at all is a finding.
func analyzeVerify(t *testing.T, text, exe string) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	privileged.RequireTool(t, "systemd-analyze", err)
	dir := t.TempDir()
	text = strings.Replace(text, "ExecStart=/usr/local/bin/weir ", "ExecStart="+exe+" ", 1)
	f := filepath.Join(dir, "weir.service")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "verify", "--man=no", f)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return fmt.Sprintf("systemd-analyze verify failed: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// fakeExe writes an executable stand-in for weir.
func fakeExe(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "weir")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestSystemdUnitVerifies(t *testing.T) {
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "ExecStart=/usr/local/bin/weir ") {
		t.Fatal("ExecStart no longer starts /usr/local/bin/weir; update the test's rewrite")
	}
	exe := fakeExe(t)
	if out := analyzeVerify(t, string(data), exe); out != "" {
		t.Errorf("systemd-analyze verify %s:\n%s", unitFile, out)
	}
	// The check can fail: an unknown key and a bad value are both reported.
	for _, bad := range []string{"NoSuchSetting=yes", "ProtectSystem=bogus"} {
		broken := strings.Replace(string(data), "[Service]\n", "[Service]\n"+bad+"\n", 1)
		if out := analyzeVerify(t, broken, exe); out == "" {
			t.Errorf("verify printed nothing for a unit with %s", bad)
		}
	}
}

func TestSystemdUnitAgreesWithAgent(t *testing.T) {
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(data))
	if err != nil {
		t.Fatal(err)
	}
	const svc = "Service"

	t.Run("exec start", func(t *testing.T) {
		argv := strings.Fields(u.one(t, svc, "ExecStart"))
		if argv[0] != "/usr/local/bin/weir" {
			t.Errorf("ExecStart runs %s", argv[0])
		}
		values, problems := checkArgs(argv[1:], agentFlags(t), boolFlags)
		for _, p := range problems {
			t.Error("ExecStart: " + p)
		}
		if values["config"] != "/etc/weir/config.yaml" {
			t.Errorf("-config %q, want /etc/weir/config.yaml", values["config"])
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		want := []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"}
		for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
			got := u.words(svc, k)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s = %v, want exactly %v", k, got, want)
			}
		}
	})
	t.Run("user", func(t *testing.T) {
		if u.one(t, svc, "User") != "weir" {
			t.Error("User is not the dedicated weir user")
		}
		if v := u[svc]["DynamicUser"]; len(v) > 0 && v[0] != "no" {
			t.Error("DynamicUser: a UID that changes between starts cannot reach the pins it made")
		}
		sysusers, err := os.ReadFile("systemd/weir.sysusers")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(sysusers), "\nu weir ") {
			t.Error("weir.sysusers does not create the weir user")
		}
	})
	t.Run("sandbox", func(t *testing.T) {
		want := map[string]string{
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
			"LimitMEMLOCK": "infinity", "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID",
			"EnvironmentFile": "-/etc/weir/weir.env",
		}
		for k, v := range want {
			if got := u.one(t, svc, k); got != v {
				t.Errorf("%s=%s, want %s", k, got, v)
			}
		}
		fams := u.words(svc, "RestrictAddressFamilies")
		slices.Sort(fams)
		if !slices.Equal(fams, []string{"AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"}) {
			t.Errorf("RestrictAddressFamilies = %v", fams)
		}
		// bpf(2) is in systemd's @privileged group, not @system-service.
		if f := u.words(svc, "SystemCallFilter"); !slices.Contains(f, "bpf") || slices.Contains(f, "~@privileged") {
			t.Errorf("SystemCallFilter %v does not allow bpf(2)", f)
		}
		if !slices.Contains(u.words(svc, "BindPaths"), "-/sys/fs/bpf/weir") || !slices.Contains(u.words(svc, "ReadWritePaths"), "-/sys/fs/bpf/weir") {
			t.Error("the pin directory /sys/fs/bpf/weir is not bound in read-write")
		}
	})
	t.Run("stop timeout covers the drain", func(t *testing.T) {
		stop, err := time.ParseDuration(u.one(t, svc, "TimeoutStopSec"))
		if err != nil {
			t.Fatal(err)
		}
		// The shutdown timeout the unit's config gets when it does not set one.
		cfg, err := config.LoadWith([]byte("version: 1\n"), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			t.Fatal(err)
		}
		if stop <= cfg.Server.ShutdownTimeout.D() {
			t.Errorf("TimeoutStopSec %s ≤ default shutdown_timeout %s: systemd would SIGKILL weir mid-drain", stop, cfg.Server.ShutdownTimeout)
		}
	})
}

func TestParseUnitRejects(t *testing.T) {
	for _, bad := range []string{"Key=value\n", "[Service]\nnot a pair\n", "[Service]\nExecStart=/bin/x \\\n  -y\n"} {
		if _, err := parseUnit(bad); err == nil {
			t.Errorf("parseUnit accepted %q", bad)
		}
	}
}
