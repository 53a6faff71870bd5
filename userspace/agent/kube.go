package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/importer/ingress"
	"github.com/weir-gateway/weir/userspace/importer/kube"
)

// newKubeClient builds the clientset of kubernetes.ingress: from the
// kubeconfig file, or the in-cluster service account when it is empty.
// Tests replace it with client-go's fake clientset.
var newKubeClient = func(kubeconfig string) (kubernetes.Interface, error) {
	var (
		rc  *rest.Config
		err error
	)
	if kubeconfig == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return c, nil
}

// kubeDebounce is the provider's debounce (0: its default); tests shorten it.
var kubeDebounce time.Duration

// kubeRoutes feeds the Ingress provider's routes to plainRoutes and
// reports what it served and what it could not, in the log, the metrics
// and /config.
type kubeRoutes struct {
	plain   *plainRoutes
	log     *slog.Logger
	setStat func(any) error
	class   string
	routes  *prometheus.GaugeVec
	success prometheus.Gauge
	status  *ingressStatus // nil without kubernetes.ingress.status_address
	// installed runs after an update's routes were installed (the kernel
	// guard's port rules follow them); nil in tests.
	installed func()

	mu     sync.Mutex
	served []string // names of the Kubernetes routes in force
}

// kubeStatus is the "kubernetes" section of /config.
type kubeStatus struct {
	Class     string    `json:"class"`
	UpdatedAt time.Time `json:"updated_at"`
	// Served names the Kubernetes routes in force.
	Served []string `json:"served_routes"`
	// NotCarried lists what an imported Ingress asked for and weir does not
	// serve: disabled paths and routes, dropped annotations, certificates.
	NotCarried []kubeItem `json:"not_carried"`
	// LastError is why the latest update was rejected (the previous
	// routes keep serving); empty when it was installed.
	LastError string `json:"last_update_error,omitempty"`
}

// kubeItem is one thing not carried. The annotation's value is left out:
// it may hold a credential (an auth-url with user info).
type kubeItem struct {
	Ingress string `json:"ingress"`
	Key     string `json:"key"`
	Reason  string `json:"reason"`
}

// startKube starts the Ingress provider when kubernetes.ingress is enabled;
// a closer stops it on Shutdown.
func (a *Agent) startKube(cfg *config.Config) error {
	ic := cfg.Kubernetes.Ingress
	if !ic.Enabled {
		return nil
	}
	client, err := newKubeClient(ic.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes.ingress: %w", err)
	}
	log := a.log.With("component", "kubernetes")
	k := &kubeRoutes{
		plain: a.plain,
		log:   log,
		installed: func() {
			snap := a.store.Load()
			if snap == nil {
				return // the first snapshot's reload syncs the kernel
			}
			if err := a.syncKernel(snap.Config); err != nil {
				log.Error("kernel guard sync with the new kubernetes routes failed; Go enforces them", "err", err.Error())
			}
		},
		setStat: a.state.SetKubernetes,
		class:   ic.Class,
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_ingress_routes",
			Help: "Routes from Kubernetes Ingresses: served, or disabled (reason in /config and the log)."}, []string{"state"}),
		success: prometheus.NewGauge(prometheus.GaugeOpts{Name: "weir_ingress_update_success",
			Help: "1 when the latest Ingress update was installed, 0 when it was rejected and the previous routes keep serving."}),
	}
	if err := a.reg.Register(k.routes); err != nil {
		return fmt.Errorf("kubernetes.ingress: metrics: %w", err)
	}
	if err := a.reg.Register(k.success); err != nil {
		return fmt.Errorf("kubernetes.ingress: metrics: %w", err)
	}
	k.routes.WithLabelValues("served").Set(0)
	k.routes.WithLabelValues("disabled").Set(0)
	a.plain.log = log
	ctx, cancel := context.WithCancel(context.Background())
	k.status = newIngressStatus(ctx, client, ic.StatusAddress, log)
	// The status follows what the agent installs (see ingressStatus), so
	// the provider writes none itself.
	p, err := kube.New(client, kube.Options{
		Import:       ingress.Options{IngressClass: ic.Class},
		Debounce:     kubeDebounce,
		OnUpdate:     k.update,
		Certificates: ic.Certificates,
		Logger:       log,
	})
	if err != nil {
		cancel()
		return fmt.Errorf("kubernetes.ingress: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("ingress provider stopped", "err", err.Error())
		}
	}()
	a.closers = append(a.closers, func() error {
		cancel()
		<-done
		return nil
	})
	log.Info("watching Ingresses", "class", ic.Class)
	return nil
}

// update installs one translation beside the file routes, or keeps the
// routes in force when the two do not go together.
func (k *kubeRoutes) update(u kube.Update) {
	st := kubeStatus{Class: k.class, UpdatedAt: time.Now().UTC(), NotCarried: []kubeItem{}}
	disabled := 0
	if u.Report != nil {
		for _, ir := range u.Report.Ingresses {
			if ir.Skipped != "" {
				continue
			}
			name := ir.Namespace + "/" + ir.Name
			for _, it := range ir.Items {
				if it.Status != ingress.Unsupported {
					continue
				}
				st.NotCarried = append(st.NotCarried, kubeItem{Ingress: name, Key: it.Key, Reason: it.Reason})
				if strings.HasPrefix(it.Key, "spec.rules[") || strings.HasPrefix(it.Key, "route ") {
					disabled++
					k.log.Warn("ingress route disabled", "ingress", name, "key", it.Key, "reason", it.Reason)
				}
			}
		}
	}
	k.routes.WithLabelValues("disabled").Set(float64(disabled))
	k.mu.Lock()
	defer k.mu.Unlock()
	// TLS listeners serve these by SNI before their own certificate.
	k.plain.certs.Store(httproute.NewCertStore(u.Certificates))
	if err := k.plain.installMerged(u.Routes); err != nil {
		k.success.Set(0)
		st.LastError = err.Error()
		k.log.Error("kubernetes routes rejected; the previous routes keep serving", "err", err.Error())
	} else {
		k.success.Set(1)
		k.served = make([]string, 0, len(u.Routes))
		for _, r := range u.Routes {
			k.served = append(k.served, r.Name)
		}
		k.routes.WithLabelValues("served").Set(float64(len(u.Routes)))
		k.log.Info("kubernetes routes installed", "routes", len(u.Routes), "disabled", disabled)
	}
	// /config says what is served as soon as it is, before the Ingress
	// status writes (API round trips) and the kernel resync below.
	st.Served = k.served
	if st.Served == nil {
		st.Served = []string{}
	}
	if err := k.setStat(st); err != nil {
		k.log.Error("kubernetes status not published", "err", err.Error())
	}
	if st.LastError == "" {
		k.status.sync(servedIngresses(u.Report))
		if k.installed != nil {
			k.installed()
		}
	}
}

// servedIngresses names ("namespace/name") the Ingresses of a report that
// weir serves: imported, and not every path of them disabled. A canary
// Ingress (no routes of its own, merged into the main one's) counts.
func servedIngresses(rep *ingress.Report) map[string]bool {
	out := map[string]bool{}
	if rep == nil {
		return out
	}
	for _, ir := range rep.Ingresses {
		if ir.Skipped != "" {
			continue
		}
		disabled := slices.ContainsFunc(ir.Items, func(it ingress.Item) bool {
			return it.Status == ingress.Unsupported && (strings.HasPrefix(it.Key, "spec.rules[") || strings.HasPrefix(it.Key, "route "))
		})
		if len(ir.Routes) > 0 || !disabled {
			out[ir.Namespace+"/"+ir.Name] = true
		}
	}
	return out
}

// kubeAPITimeout bounds each status read or write.
const kubeAPITimeout = 10 * time.Second

// ingressStatus keeps kubernetes.ingress.status_address in
// status.loadBalancer of the Ingresses weir serves (as ingress-nginx's
// --publish-status-address) and takes it off an Ingress weir stops
// serving: one that left the class (ingressClassName or the legacy
// annotation changed or removed), or whose every path is disabled. It
// follows the routes the agent installed, so a rejected update changes no
// status.
//
// Only the address this process wrote is cleared, and other entries of
// the list are kept; an Ingress weir never served is never touched. What
// weir wrote before a restart is not remembered, so an Ingress that left
// the class while no weir ran keeps the address. Shutting down clears
// nothing: the other nodes of a DaemonSet, or the process of a SIGUSR2
// upgrade, keep serving the same address.
type ingressStatus struct {
	ctx    context.Context
	client kubernetes.Interface
	want   networkingv1.IngressLoadBalancerIngress
	log    *slog.Logger
	// written are the Ingresses ("namespace/name") whose status holds the
	// address because this process wrote or found it there.
	written map[string]bool
}

// newIngressStatus returns nil (a no-op) when addr is empty.
func newIngressStatus(ctx context.Context, client kubernetes.Interface, addr string, log *slog.Logger) *ingressStatus {
	if addr == "" {
		return nil
	}
	want := networkingv1.IngressLoadBalancerIngress{Hostname: addr}
	if ip := net.ParseIP(addr); ip != nil {
		want = networkingv1.IngressLoadBalancerIngress{IP: ip.String()}
	}
	return &ingressStatus{ctx: ctx, client: client, want: want, log: log, written: map[string]bool{}}
}

// sync writes the address to the newly served Ingresses and clears it from
// those no longer served. A failed write is logged and tried again at the
// next update.
func (s *ingressStatus) sync(served map[string]bool) {
	if s == nil {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(served)) {
		if s.written[key] {
			continue
		}
		if err := s.edit(key, s.set); err != nil {
			s.log.Warn("ingress status not written", "ingress", key, "err", err.Error())
			continue
		}
		s.written[key] = true
	}
	for _, key := range slices.Sorted(maps.Keys(s.written)) {
		if served[key] {
			continue
		}
		if err := s.edit(key, s.clear); err != nil {
			s.log.Warn("ingress status not cleared", "ingress", key, "err", err.Error())
			continue
		}
		delete(s.written, key)
	}
}

// set makes the address the Ingress's load balancer status, as
// ingress-nginx does for the Ingresses of its class.
func (s *ingressStatus) set(lb []networkingv1.IngressLoadBalancerIngress) []networkingv1.IngressLoadBalancerIngress {
	if len(lb) == 1 && lb[0].IP == s.want.IP && lb[0].Hostname == s.want.Hostname {
		return nil
	}
	return []networkingv1.IngressLoadBalancerIngress{s.want}
}

// clear removes the address and keeps the other entries.
func (s *ingressStatus) clear(lb []networkingv1.IngressLoadBalancerIngress) []networkingv1.IngressLoadBalancerIngress {
	out := slices.DeleteFunc(slices.Clone(lb), func(e networkingv1.IngressLoadBalancerIngress) bool {
		return e.IP == s.want.IP && e.Hostname == s.want.Hostname
	})
	if len(out) == len(lb) {
		return nil
	}
	if out == nil {
		out = []networkingv1.IngressLoadBalancerIngress{}
	}
	return out
}

// edit reads the Ingress and writes its status with change applied (nil:
// nothing to write), again on a conflict. A deleted Ingress is done.
func (s *ingressStatus) edit(key string, change func([]networkingv1.IngressLoadBalancerIngress) []networkingv1.IngressLoadBalancerIngress) error {
	ns, name, _ := strings.Cut(key, "/")
	api := s.client.NetworkingV1().Ingresses(ns)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		ctx, cancel := context.WithTimeout(s.ctx, kubeAPITimeout)
		defer cancel()
		ing, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		lb := change(ing.Status.LoadBalancer.Ingress)
		if lb == nil {
			return nil
		}
		ing.Status.LoadBalancer.Ingress = lb
		_, err = api.UpdateStatus(ctx, ing, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of %s: %w", key, err)
	}
	return nil
}
