package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

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
		plain:   a.plain,
		log:     log,
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
	p, err := kube.New(client, kube.Options{
		Import:        ingress.Options{IngressClass: ic.Class},
		Debounce:      kubeDebounce,
		OnUpdate:      k.update,
		StatusAddress: ic.StatusAddress,
		Certificates:  ic.Certificates,
		Logger:        log,
	})
	if err != nil {
		return fmt.Errorf("kubernetes.ingress: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
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
	st.Served = k.served
	if st.Served == nil {
		st.Served = []string{}
	}
	if err := k.setStat(st); err != nil {
		k.log.Error("kubernetes status not published", "err", err.Error())
	}
}
