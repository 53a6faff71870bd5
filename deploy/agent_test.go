package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/config"
)

var (
	flagsOnce sync.Once
	flagsSet  map[string]bool
	flagsErr  error
)

// TestMain removes the weir binaries weirtest built once the tests are done.
func TestMain(m *testing.M) {
	os.Exit(weirtest.Main(m))
}

// agentFlags returns the flags the real weir binary accepts, parsed from its
// -h output (the flag package's "  -name type" lines), so the manifests are
// checked against the agent as built, not against a list kept by hand.
func agentFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := weirtest.Binary(t)
	flagsOnce.Do(func() {
		var out bytes.Buffer
		cmd := exec.Command(bin, "-h")
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			flagsErr = fmt.Errorf("run weir -h: %w", err)
			return
		}
		flagsSet = parseFlagUsage(out.String())
		if len(flagsSet) == 0 {
			flagsErr = fmt.Errorf("no flags found in weir -h output:\n%s", out.String())
		}
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flagsSet
}

var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9_.-]*)`)

// parseFlagUsage extracts flag names from a Go flag package usage text.
func parseFlagUsage(usage string) map[string]bool {
	set := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(usage, -1) {
		set[m[1]] = true
	}
	return set
}

// checkArgs reports arguments that are not flags of the agent. Flags are
// "-name value", "-name=value" or boolean "-name"; a value is the argument
// after a flag that takes one (every flag but the booleans named in bools).
func checkArgs(args []string, flags map[string]bool, bools map[string]bool) (values map[string]string, problems []string) {
	values = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			problems = append(problems, fmt.Sprintf("argument %q is not a flag (weir takes flags only)", a))
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, val, hasVal := strings.Cut(name, "=")
		if !flags[name] {
			problems = append(problems, fmt.Sprintf("weir has no flag -%s", name))
			continue
		}
		if !hasVal && !bools[name] {
			if i+1 >= len(args) {
				problems = append(problems, fmt.Sprintf("flag -%s has no value", name))
				continue
			}
			i++
			val = args[i]
		}
		values[name] = val
	}
	return values, problems
}

// boolFlags are the agent's boolean flags (they take no separate value).
var boolFlags = map[string]bool{"check-kernel": true, "version": true}

func TestParseFlagUsage(t *testing.T) {
	usage := "Usage of weir:\n  -check-kernel\n    \tprint\n  -config string\n    \tconfiguration file\n  -log-level string\n"
	got := parseFlagUsage(usage)
	for _, f := range []string{"check-kernel", "config", "log-level"} {
		if !got[f] {
			t.Errorf("flag %s not found in %v", f, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("found %v, want 3 flags", got)
	}
	if _, p := checkArgs([]string{"-config", "x", "--log-level=info", "-nope"}, got, boolFlags); len(p) != 1 || !strings.Contains(p[0], "-nope") {
		t.Errorf("checkArgs problems = %v, want exactly the unknown -nope", p)
	}
}

// podEnv resolves the weir container's environment as the kubelet would on a
// node, with the Secret example's placeholder values for secret references.
func podEnv(t *testing.T, c *corev1.Container, secret *corev1.Secret) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = map[string]string{"status.podIP": "127.0.0.1", "spec.nodeName": "node-1", "status.hostIP": "127.0.0.1"}[e.ValueFrom.FieldRef.FieldPath]
			if env[e.Name] == "" {
				t.Errorf("env %s: fieldRef %s not modelled by the test", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secret.Name {
				t.Errorf("env %s reads Secret %q, the example is %q", e.Name, ref.Name, secret.Name)
			}
			v, ok := secret.StringData[ref.Key]
			if !ok {
				t.Errorf("env %s reads key %q, which the Secret example does not have", e.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			t.Errorf("env %s: source not modelled by the test", e.Name)
		}
	}
	if len(c.EnvFrom) > 0 {
		t.Error("envFrom is not modelled by the test")
	}
	return env
}

// envRef matches ${NAME} and ${NAME:-default}.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// deployment gathers what the agreement tests need from one build.
type deployment struct {
	ds         *appsv1.DaemonSet
	c          *corev1.Container
	secret     *corev1.Secret
	configYAML string
	env        map[string]string
	// keysDir holds the Secret example's keys as files, and keysMount is
	// where the DaemonSet mounts the Secret.
	keysDir, keysMount string
}

func loadDeployment(t *testing.T, components ...string) *deployment {
	t.Helper()
	objs := kustomizeBuild(t, components...)
	d := &deployment{ds: find[*appsv1.DaemonSet](t, objs, "apps/v1/DaemonSet", "weir"), secret: readSecretExample(t)}
	d.c = weirContainer(t, d.ds)
	if len(d.c.Command) > 0 {
		t.Errorf("command %v overrides the image's entrypoint; use args", d.c.Command)
	}
	// Read -config without the agent's flag set (TestDaemonSetArgs checks
	// the args against it), so the config checks run on their own.
	var cfgPath string
	for i, a := range d.c.Args {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "config="); ok && strings.HasPrefix(a, "-") {
			cfgPath = v
		} else if strings.TrimLeft(a, "-") == "config" && strings.HasPrefix(a, "-") && i+1 < len(d.c.Args) {
			cfgPath = d.c.Args[i+1]
		}
	}
	if cfgPath == "" {
		t.Fatal("DaemonSet does not pass -config: weir would run its embedded default config")
	}
	cfgVol := volumeAt(t, d.ds, d.c, filepath.Dir(cfgPath))
	if cfgVol.ConfigMap == nil {
		t.Fatalf("-config %s is not in a ConfigMap volume", cfgPath)
	}
	if m := mountAt(d.c, filepath.Dir(cfgPath)); m.SubPath != "" {
		t.Error("the ConfigMap is mounted with subPath: the kubelet never updates those, so weir would not see changes")
	}
	cm := find[*corev1.ConfigMap](t, objs, "v1/ConfigMap", cfgVol.ConfigMap.Name)
	var ok bool
	if d.configYAML, ok = cm.Data[filepath.Base(cfgPath)]; !ok {
		t.Fatalf("ConfigMap %s has no key %s (has %v)", cm.Name, filepath.Base(cfgPath), keys(cm.Data))
	}
	d.env = podEnv(t, d.c, d.secret)

	// The Secret volume, as the kubelet would lay it out.
	d.keysDir = t.TempDir()
	for _, v := range d.ds.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		if v.Secret.SecretName != d.secret.Name {
			t.Errorf("volume %s mounts Secret %q, the example is %q", v.Name, v.Secret.SecretName, d.secret.Name)
		}
		for _, m := range d.c.VolumeMounts {
			if m.Name == v.Name {
				d.keysMount = m.MountPath
			}
		}
	}
	if d.keysMount == "" {
		t.Fatal("the weir container mounts no Secret volume")
	}
	for k, v := range d.secret.StringData {
		if err := os.WriteFile(filepath.Join(d.keysDir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// nodeConfig is the ConfigMap's config as weir reads it on a node, with the
// Secret's mount path pointing at the test's copy of the keys.
func (d *deployment) nodeConfig() string {
	return strings.ReplaceAll(d.configYAML, d.keysMount+"/", d.keysDir+"/")
}

func TestDaemonSetAgreesWithAgent(t *testing.T) {
	// The base, and the components that replace its config.
	for _, components := range [][]string{nil, {"ingress-controller"}} {
		t.Run(strings.Join(append([]string{"base"}, components...), "+"), func(t *testing.T) {
			daemonSetAgreesWithAgent(t, components...)
		})
	}
}

func daemonSetAgreesWithAgent(t *testing.T, components ...string) {
	d := loadDeployment(t, components...)

	t.Run("every env reference is provided", func(t *testing.T) {
		for _, m := range envRef.FindAllStringSubmatch(d.configYAML, -1) {
			if _, ok := d.env[m[1]]; !ok && m[2] == "" {
				t.Errorf("config uses ${%s} without a default and the container does not set it", m[1])
			}
		}
	})
	t.Run("key files come from the Secret", func(t *testing.T) {
		for _, m := range regexp.MustCompile(`api_key_file:\s*"?([^"\s]+)`).FindAllStringSubmatch(d.configYAML, -1) {
			dir, name := filepath.Split(m[1])
			if filepath.Clean(dir) != d.keysMount {
				t.Errorf("api_key_file %s is not under the Secret mount %s", m[1], d.keysMount)
			} else if _, ok := d.secret.StringData[name]; !ok {
				t.Errorf("api_key_file %s: the Secret example has no key %q", m[1], name)
			}
		}
	})

	cfg, err := config.LoadWith([]byte(d.nodeConfig()), config.Options{LookupEnv: func(k string) (string, bool) {
		v, ok := d.env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load as it would on a node:\n%v", err)
	}

	t.Run("probes hit the admin listener", func(t *testing.T) {
		host, port, err := net.SplitHostPort(cfg.Admin.Address)
		if err != nil {
			t.Fatalf("admin.address %q: %v", cfg.Admin.Address, err)
		}
		if host != d.env["POD_IP"] {
			t.Errorf("admin listens on %q, but the kubelet probes the pod IP (%s): probes would fail", host, d.env["POD_IP"])
		}
		want := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}
		for name, p := range map[string]*corev1.Probe{"startup": d.c.StartupProbe, "liveness": d.c.LivenessProbe, "readiness": d.c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s probe missing", name)
				continue
			}
			if p.HTTPGet.Path != want[name] {
				t.Errorf("%s probe path %s, want %s", name, p.HTTPGet.Path, want[name])
			}
			if p.HTTPGet.Port.String() != port {
				t.Errorf("%s probe port %s, admin listens on %s", name, p.HTTPGet.Port.String(), port)
			}
			if p.HTTPGet.Host != "" {
				t.Errorf("%s probe sets host %q; the kubelet must probe the pod IP", name, p.HTTPGet.Host)
			}
		}
	})
	t.Run("services point at the listeners", func(t *testing.T) {
		objs := kustomizeBuild(t, components...)
		_, adminPort, _ := net.SplitHostPort(cfg.Admin.Address)
		var listenerPorts []string
		for _, l := range cfg.Listeners {
			_, p, _ := net.SplitHostPort(l.Address)
			listenerPorts = append(listenerPorts, p)
		}
		admin := find[*corev1.Service](t, objs, "v1/Service", "weir-admin")
		if len(admin.Spec.Ports) != 1 || admin.Spec.Ports[0].TargetPort.String() != adminPort {
			t.Errorf("weir-admin targets %v, admin listens on %s", admin.Spec.Ports, adminPort)
		}
		client := find[*corev1.Service](t, objs, "v1/Service", "weir")
		for _, p := range client.Spec.Ports {
			if !slices.Contains(listenerPorts, p.TargetPort.String()) {
				t.Errorf("Service weir port %s targets %s, no listener is there (%v)", p.Name, p.TargetPort.String(), listenerPorts)
			}
		}
	})
	t.Run("grace period covers the drain", func(t *testing.T) {
		grace := time.Duration(*d.ds.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
		var preStop time.Duration
		if h := d.c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
			preStop = time.Duration(h.PreStop.Sleep.Seconds) * time.Second
		}
		if need := preStop + cfg.Server.ShutdownTimeout.D(); grace <= need {
			t.Errorf("terminationGracePeriodSeconds %s ≤ preStop %s + shutdown_timeout %s: the kubelet would kill weir mid-drain", grace, preStop, cfg.Server.ShutdownTimeout)
		}
	})
}

// TestDaemonSetArgs checks the container's arguments against the flags of
// the weir binary as built.
func TestDaemonSetArgs(t *testing.T) {
	ds := find[*appsv1.DaemonSet](t, kustomizeBuild(t), "apps/v1/DaemonSet", "weir")
	values, problems := checkArgs(weirContainer(t, ds).Args, agentFlags(t), boolFlags)
	for _, p := range problems {
		t.Error("DaemonSet args: " + p)
	}
	if values["config"] == "" {
		t.Error("DaemonSet args do not pass -config")
	}
	if l, ok := values["log-level"]; ok && !slices.Contains([]string{"debug", "info", "warn", "error"}, l) {
		t.Errorf("-log-level %q is not one of debug, info, warn, error", l)
	}
}

// TestDaemonSetProbesRealAgent runs the real weir on the ConfigMap's config,
// environment and keys as the DaemonSet gives them, and asks the probe paths
// the kubelet will ask. Only the addresses change (loopback, free ports) and
// the kernel data path stays off, so the test touches no interface.
func TestDaemonSetProbesRealAgent(t *testing.T) {
	d := loadDeployment(t)
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(d.nodeConfig()), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for _, l := range mapValue(t, root, "listeners").Content {
		mapValue(t, l, "address").Value = "127.0.0.1:0"
	}
	mapValue(t, mapValue(t, root, "admin"), "address").Value = "127.0.0.1:0"
	mapValue(t, mapValue(t, root, "dataplane"), "mode").Value = "off"
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range d.env {
		env = append(env, k+"="+v)
	}
	p := weirtest.Start(t, string(out), weirtest.Options{Env: env})
	for name, probe := range map[string]*corev1.Probe{"startup": d.c.StartupProbe, "liveness": d.c.LivenessProbe, "readiness": d.c.ReadinessProbe} {
		resp, err := http.Get(p.AdminURL() + probe.HTTPGet.Path)
		if err != nil {
			t.Errorf("%s probe: %v", name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The kubelet counts 200–399 as success.
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			t.Errorf("%s probe GET %s = %d %s", name, probe.HTTPGet.Path, resp.StatusCode, body)
		}
	}
	// The Service and the ServiceMonitor scrape /metrics there too: every
	// weir and GenAI family it serves is documented, with its type and labels.
	resp, err := http.Get(p.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	docs := documentedMetrics(t)
	n := 0
	for name, f := range families {
		if !strings.HasPrefix(name, "weir_") && !strings.HasPrefix(name, "gen_ai_") {
			continue
		}
		n++
		doc, ok := docs[name]
		if !ok {
			t.Errorf("/metrics serves %s, which is not in the metrics table of %s", name, operationsDoc)
			continue
		}
		if got := strings.ToLower(f.GetType().String()); got != doc.kind {
			t.Errorf("%s is a %s, documented as a %s", name, got, doc.kind)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(doc.labels, l.GetName()) {
					t.Errorf("%s has label %s, documented labels are %v", name, l.GetName(), doc.labels)
				}
			}
		}
	}
	if n == 0 {
		t.Error("/metrics served no weir_ or gen_ai_ family")
	}
}

// mapValue returns the value node of key in a YAML mapping node.
func mapValue(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	if m.Kind != yaml.MappingNode {
		t.Fatalf("line %d: not a mapping", m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	t.Fatalf("line %d: no key %q", m.Line, key)
	return nil
}

// TestDocsListEveryFlag keeps the operator docs' flag table in step with the
// binary: every flag weir has is documented, and nothing documented is gone.
func TestDocsListEveryFlag(t *testing.T) {
	flags := agentFlags(t)
	documented := map[string]bool{}
	for _, row := range markdownTable(t, "Flag") {
		name := strings.Trim(strings.Fields(row[0])[0], "`")
		documented[strings.TrimLeft(name, "-")] = true
	}
	for f := range flags {
		if !documented[f] {
			t.Errorf("weir flag -%s is not in the flags table of %s", f, operationsDoc)
		}
	}
	for f := range documented {
		if !flags[f] {
			t.Errorf("%s documents -%s, which weir does not have", operationsDoc, f)
		}
	}
}

const operationsDoc = "../docs/operations.md"

// markdownTable returns the body rows of the table in operations.md whose
// first header cell is firstHeader, split into trimmed cells.
func markdownTable(t *testing.T, firstHeader string) [][]string {
	t.Helper()
	data, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == firstHeader:
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no table headed %q", operationsDoc, firstHeader)
	}
	return rows
}
