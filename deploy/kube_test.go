package deploy

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/userspace/config"
)

// Paths of the Kubernetes deployment, relative to this package.
const (
	kubeBase       = "kubernetes/base"
	kubeComponents = "kubernetes/components"
	secretExample  = "kubernetes/base/secret.example.yaml"
)

// object is one Kubernetes object out of a kustomize build, decoded
// strictly into its Go type.
type object struct {
	gvk       string // "apps/v1/DaemonSet", "v1/Service"
	name      string
	namespace string
	raw       []byte // JSON
	value     any
}

// newTyped returns a pointer to the Go type of each kind the deployment may
// contain. A kind outside this table fails the tests: add its type first.
var newTyped = map[string]func() any{
	"v1/Namespace":      func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount": func() any { return &corev1.ServiceAccount{} },
	"v1/Service":        func() any { return &corev1.Service{} },
	"v1/ConfigMap":      func() any { return &corev1.ConfigMap{} },
	"v1/Secret":         func() any { return &corev1.Secret{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	// Not in k8s.io/api: see serviceMonitor.
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &serviceMonitor{} },
}

// serviceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor that weir's manifest uses, with
// the field names of the operator's CRD schema. It is decoded strictly like
// the k8s.io/api types, so a misspelt or unmodelled field fails the test:
// before using another ServiceMonitor field, add it here, spelt as in the
// CRD (monitoringv1.ServiceMonitorSpec / Endpoint / RelabelConfig).
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		JobLabel  string `json:"jobLabel,omitempty"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			Relabelings   []struct {
				SourceLabels []string `json:"sourceLabels,omitempty"`
				Separator    string   `json:"separator,omitempty"`
				TargetLabel  string   `json:"targetLabel,omitempty"`
				Regex        string   `json:"regex,omitempty"`
				Replacement  string   `json:"replacement,omitempty"`
				Action       string   `json:"action,omitempty"`
			} `json:"relabelings,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// decodeStrict decodes JSON into v the way the API server's strict field
// validation does: unknown fields, duplicate fields and case-insensitive
// matches are errors.
func decodeStrict(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if len(strict) > 0 {
		return fmt.Errorf("strict decode: %w", errors.Join(strict...))
	}
	return nil
}

// decodeObject decodes one object's JSON into its registered type.
func decodeObject(data []byte) (object, error) {
	var meta struct {
		metav1.TypeMeta
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &meta); err != nil {
		return object{}, fmt.Errorf("read type: %w", err)
	}
	o := object{gvk: meta.APIVersion + "/" + meta.Kind, name: meta.Metadata.Name, namespace: meta.Metadata.Namespace, raw: data}
	mk, ok := newTyped[o.gvk]
	if !ok {
		return o, fmt.Errorf("%s %q: kind not known to the tests (add its Go type to newTyped)", o.gvk, o.name)
	}
	o.value = mk()
	if err := decodeStrict(data, o.value); err != nil {
		return o, fmt.Errorf("%s %q: %w", o.gvk, o.name, err)
	}
	return o, nil
}

// kustomizeBuild runs kustomize in-process, as `kubectl apply -k` would, on
// a kustomization that takes the base plus the given components, and
// decodes every object strictly.
func kustomizeBuild(t *testing.T, components ...string) []object {
	t.Helper()
	base, err := filepath.Abs(kubeBase)
	if err != nil {
		t.Fatal(err)
	}
	dir := base
	if len(components) > 0 {
		// kustomize refuses absolute roots: refer to the tree relatively,
		// as a user's overlay would.
		dir = t.TempDir()
		rel := func(p string) string {
			abs, err := filepath.Abs(p)
			if err == nil {
				abs, err = filepath.Rel(dir, abs)
			}
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel(kubeBase) + "\ncomponents:\n"
		for _, c := range components {
			k += "  - " + rel(filepath.Join(kubeComponents, c)) + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %v: %v", components, err)
	}
	var objs []object
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal %s: %v", r.CurId(), err)
		}
		o, err := decodeObject(data)
		if err != nil {
			t.Error(err)
			continue
		}
		objs = append(objs, o)
	}
	if t.Failed() {
		t.FailNow()
	}
	return objs
}

// find returns the one object of a kind and name, typed.
func find[T any](t *testing.T, objs []object, gvk, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.gvk == gvk && o.name == name {
			return o.value.(T)
		}
	}
	t.Fatalf("no %s %q in the build", gvk, name)
	var zero T
	return zero
}

// componentSets are the builds users can make: the base alone, each
// component, and all of them together.
func componentSets(t *testing.T) [][]string {
	t.Helper()
	entries, err := os.ReadDir(kubeComponents)
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]string{nil}
	var all []string
	for _, e := range entries {
		if e.IsDir() {
			sets = append(sets, []string{e.Name()})
			all = append(all, e.Name())
		}
	}
	if len(all) < 2 {
		t.Fatalf("expected several components under %s, found %v", kubeComponents, all)
	}
	return append(sets, all)
}

func TestKustomizeBuildsDecodeStrictly(t *testing.T) {
	for _, set := range componentSets(t) {
		t.Run(strings.Join(append([]string{"base"}, set...), "+"), func(t *testing.T) {
			objs := kustomizeBuild(t, set...)
			seen := map[string]bool{}
			for _, o := range objs {
				id := o.gvk + "/" + o.namespace + "/" + o.name
				if seen[id] {
					t.Errorf("%s appears twice", id)
				}
				seen[id] = true
				if o.gvk != "v1/Namespace" && !strings.HasPrefix(o.gvk, "rbac.authorization.k8s.io/v1/Cluster") && o.namespace != "weir-system" {
					t.Errorf("%s is in namespace %q, want weir-system", id, o.namespace)
				}
			}
			ds := find[*appsv1.DaemonSet](t, objs, "apps/v1/DaemonSet", "weir")
			for _, p := range podRules(&ds.Spec.Template.Spec, ds.Spec.UpdateStrategy) {
				t.Error(p)
			}
		})
	}
}

// TestStrictDecodeRejects proves the strict decoding above can fail: a
// misspelt field, a field in the wrong place and a duplicate are all caught.
func TestStrictDecodeRejects(t *testing.T) {
	cases := []struct{ name, json string }{
		{"unknown field", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"x"},"spec":{"template":{"spec":{"hostNetwrok":true}}}}`},
		{"wrong case", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"x"},"spec":{"template":{"spec":{"HostNetwork":true}}}}`},
		{"duplicate field", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","name":"y"}}`},
		{"servicemonitor field not modelled", `{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"x"},"spec":{"endpoints":[{"prot":"admin"}]}}`},
		{"unknown kind", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := decodeObject([]byte(c.json)); err == nil {
				t.Fatalf("decodeObject accepted %s", c.json)
			}
		})
	}
}

// TestKustomizationFilesAreUsed finds YAML files under the Kubernetes tree
// that no kustomization refers to (a manifest someone forgot to list), and
// decodes the ones kept aside on purpose (the Secret example) strictly.
func TestKustomizationFilesAreUsed(t *testing.T) {
	referenced := map[string]bool{}
	err := filepath.WalkDir("kubernetes", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k struct {
			Resources          []string `json:"resources"`
			ConfigMapGenerator []struct {
				Files []string `json:"files"`
			} `json:"configMapGenerator"`
			Patches []struct {
				Path string `json:"path"`
			} `json:"patches"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dir := filepath.Dir(path)
		refs := slices.Clone(k.Resources)
		for _, g := range k.ConfigMapGenerator {
			refs = append(refs, g.Files...)
		}
		for _, p := range k.Patches {
			if p.Path != "" {
				refs = append(refs, p.Path)
			}
		}
		for _, r := range refs {
			f := filepath.Join(dir, r)
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s refers to %s: %v", path, r, err)
			}
			referenced[f] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir("kubernetes", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || d.Name() == "kustomization.yaml" {
			return err
		}
		if !referenced[path] && path != secretExample {
			t.Errorf("%s is not referenced by any kustomization.yaml", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := readSecretExample(t)
	if secret.Name != "weir-keys" || secret.Namespace != "weir-system" {
		t.Errorf("secret example is %s/%s, want weir-system/weir-keys", secret.Namespace, secret.Name)
	}
}

// readSecretExample decodes the Secret example strictly.
func readSecretExample(t *testing.T) *corev1.Secret {
	t.Helper()
	data, err := os.ReadFile(secretExample)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("%s: %v", secretExample, err)
	}
	o, err := decodeObject(j)
	if err != nil {
		t.Fatalf("%s: %v", secretExample, err)
	}
	s, ok := o.value.(*corev1.Secret)
	if !ok {
		t.Fatalf("%s holds a %s, want a Secret", secretExample, o.gvk)
	}
	return s
}

// podRules are the API server's validation rules that strict decoding cannot
// see but that would make the DaemonSet's pods fail at admission or never
// schedule, plus weir's own minimums. It returns one message per violation.
func podRules(spec *corev1.PodSpec, strategy appsv1.DaemonSetUpdateStrategy) []string {
	var problems []string
	surge := strategy.RollingUpdate != nil && strategy.RollingUpdate.MaxSurge != nil &&
		strategy.RollingUpdate.MaxSurge.String() != "0" && strategy.RollingUpdate.MaxSurge.String() != "0%"
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for _, c := range all {
		privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
		for _, m := range c.VolumeMounts {
			if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional && !privileged {
				problems = append(problems, fmt.Sprintf("container %s: volume %s has Bidirectional mount propagation, which the API server allows only in privileged containers", c.Name, m.Name))
			}
		}
		// With hostNetwork, every container port is defaulted to a hostPort,
		// and the scheduler will not place the surge pod beside the old one.
		if spec.HostNetwork && surge && len(c.Ports) > 0 {
			problems = append(problems, fmt.Sprintf("container %s declares ports %v: with hostNetwork they become hostPorts and a maxSurge rolling update never schedules", c.Name, c.Ports))
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			problems = append(problems, fmt.Sprintf("container %s has no memory request and limit", c.Name))
		}
	}
	return problems
}

func TestPodRulesCatch(t *testing.T) {
	ds := find[*appsv1.DaemonSet](t, kustomizeBuild(t), "apps/v1/DaemonSet", "weir")
	cases := map[string]func(s *corev1.PodSpec){
		"bidirectional without privileged": func(s *corev1.PodSpec) {
			b := corev1.MountPropagationBidirectional
			s.Containers[0].VolumeMounts[0].MountPropagation = &b
		},
		"container port with surge": func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9901}}
		},
		"no memory limit": func(s *corev1.PodSpec) {
			delete(s.Containers[0].Resources.Limits, corev1.ResourceMemory)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			spec := ds.Spec.Template.Spec.DeepCopy()
			mutate(spec)
			if p := podRules(spec, ds.Spec.UpdateStrategy); len(p) == 0 {
				t.Fatal("podRules found nothing wrong")
			}
		})
	}
}

// weirContainer returns the DaemonSet's weir container.
func weirContainer(t *testing.T, ds *appsv1.DaemonSet) *corev1.Container {
	t.Helper()
	for i := range ds.Spec.Template.Spec.Containers {
		if c := &ds.Spec.Template.Spec.Containers[i]; c.Name == "weir" {
			return c
		}
	}
	t.Fatal("DaemonSet has no container named weir")
	return nil
}

func TestDaemonSetShape(t *testing.T) {
	objs := kustomizeBuild(t)
	ds := find[*appsv1.DaemonSet](t, objs, "apps/v1/DaemonSet", "weir")
	spec := ds.Spec.Template.Spec
	c := weirContainer(t, ds)

	t.Run("selector matches the pod template", func(t *testing.T) {
		// The API server rejects a DaemonSet whose selector does not match
		// its own template.
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
			t.Errorf("selector %v does not select the template labels %v (%v)", ds.Spec.Selector, ds.Spec.Template.Labels, err)
		}
	})
	t.Run("host network", func(t *testing.T) {
		if !spec.HostNetwork {
			t.Error("hostNetwork is off: the guard must attach to the node's interfaces")
		}
		if spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("dnsPolicy = %q, want ClusterFirstWithHostNet (cluster DNS with hostNetwork)", spec.DNSPolicy)
		}
	})
	t.Run("security context", func(t *testing.T) {
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatal("no securityContext.capabilities")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("weir container is privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation must be false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem must be true")
		}
		if got := capNames(sc.Capabilities.Drop); !slices.Equal(got, []string{"ALL"}) {
			t.Errorf("capabilities.drop = %v, want [ALL]", got)
		}
		if got, want := capNames(sc.Capabilities.Add), []string{"BPF", "NET_ADMIN", "PERFMON"}; !slices.Equal(got, want) {
			t.Errorf("capabilities.add = %v, want exactly %v", got, want)
		}
		// Kubernetes sets no ambient capabilities: added capabilities are
		// effective only for UID 0 (kubernetes/kubernetes#56374).
		if sc.RunAsUser == nil || *sc.RunAsUser != 0 || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) {
			t.Error("weir must run as UID 0 for its added capabilities to be effective")
		}
		if ps := spec.SecurityContext; ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Error("pod seccompProfile must be RuntimeDefault")
		}
	})
	t.Run("bpffs", func(t *testing.T) {
		vol := volumeAt(t, ds, c, "/sys/fs/bpf")
		if vol.HostPath == nil || vol.HostPath.Path != "/sys/fs/bpf" {
			t.Fatalf("/sys/fs/bpf is not the host's /sys/fs/bpf: %+v", vol.VolumeSource)
		}
		if vol.HostPath.Type == nil || *vol.HostPath.Type != corev1.HostPathDirectory {
			t.Errorf("hostPath type = %v, want Directory (never create it: it is the kernel's mount point)", vol.HostPath.Type)
		}
		m := mountAt(c, "/sys/fs/bpf")
		if m.ReadOnly {
			t.Error("/sys/fs/bpf is mounted read-only: weir cannot pin")
		}
		if m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationHostToContainer {
			t.Errorf("/sys/fs/bpf propagation = %v, want HostToContainer (sees a bpffs mounted later by the host or the mount-bpffs component)", m.MountPropagation)
		}
	})
	t.Run("rolling update with surge", func(t *testing.T) {
		ru := ds.Spec.UpdateStrategy.RollingUpdate
		if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil || ru.MaxUnavailable == nil {
			t.Fatalf("updateStrategy = %+v, want RollingUpdate with maxSurge and maxUnavailable", ds.Spec.UpdateStrategy)
		}
		if ru.MaxSurge.IntValue() < 1 || ru.MaxUnavailable.String() != "0" {
			t.Errorf("maxSurge = %s, maxUnavailable = %s; want surge ≥ 1 and 0 unavailable so a new weir starts before the old one drains", ru.MaxSurge, ru.MaxUnavailable)
		}
	})
	t.Run("probes", func(t *testing.T) {
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s probe is not an httpGet probe", name)
			}
		}
	})
	t.Run("service account and RBAC", func(t *testing.T) {
		sa := find[*corev1.ServiceAccount](t, objs, "v1/ServiceAccount", spec.ServiceAccountName)
		crb := find[*rbacv1.ClusterRoleBinding](t, objs, "rbac.authorization.k8s.io/v1/ClusterRoleBinding", "weir")
		if len(crb.Subjects) != 1 || crb.Subjects[0].Kind != "ServiceAccount" || crb.Subjects[0].Name != sa.Name || crb.Subjects[0].Namespace != sa.Namespace {
			t.Errorf("ClusterRoleBinding subjects = %+v, want the ServiceAccount %s/%s", crb.Subjects, sa.Namespace, sa.Name)
		}
		cr := find[*rbacv1.ClusterRole](t, objs, "rbac.authorization.k8s.io/v1/ClusterRole", crb.RoleRef.Name)
		if got, want := flattenRules(cr.Rules), ingressProviderRBAC; !slices.Equal(got, want) {
			t.Errorf("ClusterRole grants\n  %s\nwant exactly what the Ingress provider uses\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
	t.Run("services select the pods", func(t *testing.T) {
		for _, o := range objs {
			svc, ok := o.value.(*corev1.Service)
			if !ok {
				continue
			}
			if len(svc.Spec.Selector) == 0 {
				t.Errorf("Service %s selects nothing", svc.Name)
			}
			for k, v := range svc.Spec.Selector {
				if ds.Spec.Template.Labels[k] != v {
					t.Errorf("Service %s selector %s=%s does not match the pod labels %v", svc.Name, k, v, ds.Spec.Template.Labels)
				}
			}
			for _, p := range svc.Spec.Ports {
				// No container ports are declared (see podRules), so a named
				// targetPort would resolve to nothing.
				if p.TargetPort.StrVal != "" || p.TargetPort.IntValue() == 0 {
					t.Errorf("Service %s port %s: targetPort %q must be a number", svc.Name, p.Name, p.TargetPort.String())
				}
			}
		}
	})
}

// ingressProviderRBAC is what issue 8's Ingress provider needs: informers
// (get, list, watch) on Ingresses, IngressClasses, Services, EndpointSlices
// and Secrets, and writes to Ingress status.
var ingressProviderRBAC = []string{
	"/secrets get,list,watch",
	"/services get,list,watch",
	"discovery.k8s.io/endpointslices get,list,watch",
	"networking.k8s.io/ingressclasses get,list,watch",
	"networking.k8s.io/ingresses get,list,watch",
	"networking.k8s.io/ingresses/status update",
}

// flattenRules turns RBAC rules into sorted "group/resource verbs" lines.
func flattenRules(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		verbs := slices.Clone(r.Verbs)
		sort.Strings(verbs)
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				out = append(out, g+"/"+res+" "+strings.Join(verbs, ","))
			}
		}
	}
	sort.Strings(out)
	return out
}

func capNames(cs []corev1.Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	sort.Strings(out)
	return out
}

// mountAt returns the container's volume mount at path (zero if none).
func mountAt(c *corev1.Container, path string) corev1.VolumeMount {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m
		}
	}
	return corev1.VolumeMount{}
}

// volumeAt returns the pod volume mounted at path in c.
func volumeAt(t *testing.T, ds *appsv1.DaemonSet, c *corev1.Container, path string) corev1.Volume {
	t.Helper()
	m := mountAt(c, path)
	if m.Name == "" {
		t.Fatalf("container %s mounts nothing at %s", c.Name, path)
	}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == m.Name {
			return v
		}
	}
	t.Fatalf("volume %s (mounted at %s) is not declared", m.Name, path)
	return corev1.Volume{}
}

func TestComponents(t *testing.T) {
	t.Run("monitoring", func(t *testing.T) {
		objs := kustomizeBuild(t, "monitoring")
		sm := find[*serviceMonitor](t, objs, "monitoring.coreos.com/v1/ServiceMonitor", "weir")
		var matched []*corev1.Service
		for _, o := range objs {
			svc, ok := o.value.(*corev1.Service)
			if !ok {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Matches(labels.Set(svc.Labels)) && slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) {
				matched = append(matched, svc)
			}
		}
		if len(matched) != 1 || matched[0].Name != "weir-admin" {
			t.Fatalf("ServiceMonitor selects %d Services, want only weir-admin", len(matched))
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				t.Errorf("endpoint path %q, want /metrics", ep.Path)
			}
			if !slices.ContainsFunc(matched[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("endpoint port %q is not a port of weir-admin", ep.Port)
			}
		}
	})
	t.Run("mount-bpffs", func(t *testing.T) {
		ds := find[*appsv1.DaemonSet](t, kustomizeBuild(t, "mount-bpffs"), "apps/v1/DaemonSet", "weir")
		spec := ds.Spec.Template.Spec
		if len(spec.InitContainers) != 1 {
			t.Fatalf("want one init container, have %d", len(spec.InitContainers))
		}
		ic := spec.InitContainers[0]
		m := mountAt(&ic, "/sys/fs/bpf")
		if m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationBidirectional {
			t.Error("the init container's /sys/fs/bpf must be Bidirectional for its mount to reach the host")
		}
		if sc := weirContainer(t, ds).SecurityContext; sc.Privileged != nil && *sc.Privileged {
			t.Error("the component made the weir container privileged; only the init container should be")
		}
	})
	t.Run("ingress-controller", func(t *testing.T) {
		d := loadDeployment(t, "ingress-controller")
		if got := capNames(d.c.SecurityContext.Capabilities.Add); !slices.Contains(got, "NET_BIND_SERVICE") {
			t.Errorf("capabilities.add = %v: without NET_BIND_SERVICE weir cannot bind :80 and :443", got)
		}
		cfg, err := config.LoadWith([]byte(d.nodeConfig()), config.Options{LookupEnv: func(k string) (string, bool) {
			v, ok := d.env[k]
			return v, ok
		}})
		if err != nil {
			t.Fatal(err)
		}
		if ic := cfg.Kubernetes.Ingress; !ic.Enabled || ic.Class != "nginx" || !ic.Certificates || ic.StatusAddress != d.env["POD_IP"] {
			t.Errorf("kubernetes.ingress = %+v, want the watcher on for class nginx, with certificates and the node's address", ic)
		}
		serves := map[string][]string{}
		for _, l := range cfg.Listeners {
			serves[l.Address] = l.Serve
		}
		for addr, want := range map[string]string{":80": config.ServeRoutes, ":443": config.ServeRoutes, ":8080": config.ServeAPI} {
			if got := serves[addr]; !slices.Equal(got, []string{want}) {
				t.Errorf("listener %s serves %v, want only %s (the kernel guard needs routes-only ports)", addr, got, want)
			}
		}
	})
	t.Run("legacy-kernel", func(t *testing.T) {
		ds := find[*appsv1.DaemonSet](t, kustomizeBuild(t, "legacy-kernel"), "apps/v1/DaemonSet", "weir")
		sc := weirContainer(t, ds).SecurityContext
		if got, want := capNames(sc.Capabilities.Add), []string{"NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"}; !slices.Equal(got, want) {
			t.Errorf("capabilities.add = %v, want %v", got, want)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("legacy-kernel made weir privileged")
		}
	})
}

// TestPrivilegedMountBpffsCommand runs the mount-bpffs init container's
// command for real, in a private mount namespace over an empty directory
// standing in for the host's /sys/fs/bpf: the first run mounts bpffs, the
// second finds it and mounts nothing.
func TestPrivilegedMountBpffsCommand(t *testing.T) {
	privileged.Require(t)
	unshare, err := exec.LookPath("unshare")
	privileged.RequireTool(t, "unshare", err)
	ds := find[*appsv1.DaemonSet](t, kustomizeBuild(t, "mount-bpffs"), "apps/v1/DaemonSet", "weir")
	cmd := ds.Spec.Template.Spec.InitContainers[0].Command
	if len(cmd) != 3 || cmd[0] != "/bin/sh" || cmd[1] != "-c" {
		t.Fatalf("init command %q is not /bin/sh -c SCRIPT", cmd)
	}
	// Inside the new namespace, a tmpfs over /sys/fs/bpf hides whatever the
	// machine has there, so the script sees a directory without bpffs.
	script := `set -e
mount -t tmpfs tmpfs /sys/fs/bpf
run() { sh -c "$1"; awk '$2 == "/sys/fs/bpf" && $3 == "bpf"' /proc/mounts | wc -l; }
run "$SCRIPT"
run "$SCRIPT"
`
	c := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	c.Env = append(os.Environ(), "SCRIPT="+cmd[2])
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, []string{"1", "1"}) {
		t.Errorf("bpffs mounts after the first and second run = %q, want [1 1]", out)
	}
}

// TestDocsListEveryComponent keeps the operator docs' component table in
// step with deploy/kubernetes/components.
func TestDocsListEveryComponent(t *testing.T) {
	documented := map[string]bool{}
	for _, row := range markdownTable(t, "Component") {
		documented[strings.Trim(row[0], "`")] = true
	}
	entries, err := os.ReadDir(kubeComponents)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !documented[e.Name()] {
			t.Errorf("component %s is not in the components table of %s", e.Name(), operationsDoc)
		}
		delete(documented, e.Name())
	}
	for name := range documented {
		t.Errorf("%s documents component %s, which does not exist", operationsDoc, name)
	}
}
