// Package kube is the Kubernetes provider of plain HTTP routes: it watches
// Ingresses (networking.k8s.io/v1), IngressClasses, Services and
// EndpointSlices through client-go informers, translates them with package
// ingress (the same code as weirctl import-ingress) and hands every new
// result to a callback, which feeds weir's validate → compile → swap path.
//
// Services resolve to the addresses of their ready endpoints, so weir's
// own balancing (round robin, EWMA, hashing, affinity) sees the pods; a
// Service without ready endpoints falls back to its DNS name.
//
// Ingress status is not the provider's: the agent writes its address to
// the Ingresses whose routes it installed (Update.Report says which).
//
// With Options.Certificates set, it also watches Secrets (of types
// kubernetes.io/tls and Opaque, not the others) and hands the
// certificates of the imported Ingresses' spec.tls in Update.Certificates,
// for httproute.NewCertStore (SNI), and puts the ca.crt, tls.crt and
// tls.key of proxy-ssl-secret Secrets inline in the routes' upstream TLS
// (a missing Secret disables the Ingress's paths, with the reason). Private
// keys stay in memory only: they are config.Secret values, redacted
// wherever routes are printed. Once (weirctl) never reads them: its routes
// name the files where the Secret is to be mounted.
package kube

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
	"github.com/weir-gateway/weir/userspace/importer/ingress"
)

// Update is one translation of the cluster's state.
type Update struct {
	Routes []config.Route
	// Certificates are the spec.tls certificates of the imported
	// Ingresses, oldest Ingress first (Options.Certificates).
	Certificates []httproute.Certificate
	// Report says, per Ingress, what was carried and what was not; a
	// broken Ingress (bad annotation, missing Service) has its routes
	// left out or its annotation dropped, with the reason here, while the
	// others keep serving.
	Report *ingress.Report
}

// Options configure a Provider.
type Options struct {
	// Import selects and translates Ingresses (class, controller, ...).
	// Its Endpoints hook is set by the provider.
	Import ingress.Options
	// Namespace limits the watch to one namespace; empty watches all.
	Namespace string
	// Debounce is how long the provider waits after a change for more
	// before translating, so a rollout's burst of EndpointSlice updates
	// makes one reload; default 250ms.
	Debounce time.Duration
	// OnUpdate receives each translation that differs from the previous
	// one. It is called from one goroutine at a time.
	OnUpdate func(Update)
	// Certificates watches Secrets of type kubernetes.io/tls and Opaque
	// (the service account needs get, list and watch on secrets), for
	// spec.tls and proxy-ssl-secret. Without it an Ingress with
	// proxy-ssl-secret (and a TLS backend) is not imported.
	Certificates bool
	// Logger receives status write failures; default slog.Default().
	Logger *slog.Logger
}

// Provider watches a cluster. Create it with New, then Run it.
type Provider struct {
	opt       Options
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	ingresses cache.SharedIndexInformer
	classes   cache.SharedIndexInformer
	services  cache.SharedIndexInformer
	slices    cache.SharedIndexInformer
	sliceList discoverylisters.EndpointSliceLister
	secretsF  informers.SharedInformerFactory
	secrets   cache.SharedIndexInformer // nil unless Options.Certificates
	opaqueF   informers.SharedInformerFactory
	opaque    cache.SharedIndexInformer // Opaque Secrets, for proxy-ssl-secret
	// files makes proxy-ssl-secret routes name files instead of carrying
	// the Secret inline (Once, whose routes are printed).
	files bool

	changed chan struct{}
	mu      sync.Mutex
	last    []byte // the last routes handed to OnUpdate, marshalled
}

// New prepares a provider; nothing is watched until Run.
func New(client kubernetes.Interface, opt Options) (*Provider, error) {
	if client == nil {
		return nil, errors.New("kube: no client")
	}
	if opt.OnUpdate == nil {
		return nil, errors.New("kube: no OnUpdate callback")
	}
	opt.Debounce = cmp.Or(opt.Debounce, 250*time.Millisecond)
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(opt.Namespace))
	p := &Provider{
		opt:       opt,
		client:    client,
		factory:   f,
		ingresses: f.Networking().V1().Ingresses().Informer(),
		classes:   f.Networking().V1().IngressClasses().Informer(),
		services:  f.Core().V1().Services().Informer(),
		slices:    f.Discovery().V1().EndpointSlices().Informer(),
		sliceList: f.Discovery().V1().EndpointSlices().Lister(),
		changed:   make(chan struct{}, 1),
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	watched := []cache.SharedIndexInformer{p.ingresses, p.classes, p.services, p.slices}
	if opt.Certificates {
		p.secretsF = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(opt.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "type=" + string(corev1.SecretTypeTLS) }))
		p.secrets = p.secretsF.Core().V1().Secrets().Informer()
		p.opaqueF = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(opt.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "type=" + string(corev1.SecretTypeOpaque) }))
		p.opaque = p.opaqueF.Core().V1().Secrets().Informer()
		watched = append(watched, p.secrets, p.opaque)
	}
	for _, inf := range watched {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("kube: add event handler: %w", err)
		}
	}
	return p, nil
}

func (p *Provider) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// start starts the informers and waits for their caches.
func (p *Provider) start(ctx context.Context) error {
	p.factory.Start(ctx.Done())
	synced := []cache.InformerSynced{p.ingresses.HasSynced, p.classes.HasSynced, p.services.HasSynced, p.slices.HasSynced}
	if p.secrets != nil {
		p.secretsF.Start(ctx.Done())
		p.opaqueF.Start(ctx.Done())
		synced = append(synced, p.secrets.HasSynced, p.opaque.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("kube: wait for caches: %w", ctx.Err())
	}
	return nil
}

func (p *Provider) shutdown() {
	p.factory.Shutdown()
	if p.secretsF != nil {
		p.secretsF.Shutdown()
		p.opaqueF.Shutdown()
	}
}

// Run starts the informers, waits for their caches, hands the first
// translation to OnUpdate and then one per (debounced) change, until ctx
// ends.
func (p *Provider) Run(ctx context.Context) error {
	defer p.shutdown()
	if err := p.start(ctx); err != nil {
		return err
	}
	p.publish()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-p.changed:
			timer.Reset(p.opt.Debounce)
		case <-timer.C:
			p.publish()
		}
	}
}

// Once starts the informers, waits for the caches and returns one
// translation (weirctl import-ingress --from-cluster). Its routes are
// meant to be printed, so proxy-ssl-secret Secrets are named as files to
// mount (ingress.Options.UpstreamTLSDir), never read.
func (p *Provider) Once(ctx context.Context) (Update, error) {
	p.files = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() { cancel(); p.shutdown() }()
	if err := p.start(ctx); err != nil {
		return Update{}, err
	}
	return p.Build(), nil
}

// publish translates the caches and calls OnUpdate when the routes changed.
func (p *Provider) publish() {
	u := p.Build()
	out, err := ingress.MarshalRoutes(u.Routes)
	if err != nil {
		out = nil // never equal to the last: publish anyway
	}
	p.mu.Lock()
	same := out != nil && bytes.Equal(out, p.last)
	p.last = out
	p.mu.Unlock()
	if !same {
		p.opt.OnUpdate(u)
	}
}

// Build translates what the caches hold now.
func (p *Provider) Build() Update {
	objs := &ingress.Objects{}
	for _, o := range p.ingresses.GetStore().List() {
		if ing, ok := o.(*networkingv1.Ingress); ok {
			objs.Ingresses = append(objs.Ingresses, *ing.DeepCopy())
		}
	}
	for _, o := range p.classes.GetStore().List() {
		if c, ok := o.(*networkingv1.IngressClass); ok {
			objs.Classes = append(objs.Classes, *c.DeepCopy())
		}
	}
	for _, o := range p.services.GetStore().List() {
		if s, ok := o.(*corev1.Service); ok {
			objs.Services = append(objs.Services, *s.DeepCopy())
		}
	}
	// The stores list in map order; the import's output must not depend on it.
	slices.SortFunc(objs.Ingresses, func(a, b networkingv1.Ingress) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(objs.Classes, func(a, b networkingv1.IngressClass) int { return cmp.Compare(a.Name, b.Name) })
	opt := p.opt.Import
	opt.Endpoints = func(ns, svc string, port networkingv1.ServiceBackendPort) ([]string, bool) {
		return p.endpoints(objs.Services, ns, svc, port)
	}
	if !p.files {
		opt.UpstreamTLS = p.upstreamSecret
	}
	routes, rep := ingress.Import(objs, opt)
	u := Update{Routes: disableBroken(routes, rep), Report: rep}
	if p.secrets != nil {
		u.Certificates = p.certificates(objs, rep)
	}
	return u
}

// disableBroken drops the routes that fail weir's validation (the
// translation should never make one; a Service or value it did not
// foresee might), reporting each on its Ingress, so that one broken
// Ingress never stops the others from serving.
func disableBroken(routes []config.Route, rep *ingress.Report) []config.Route {
	problems := config.ValidateRoutes(routes)
	if len(problems) == 0 {
		return routes
	}
	why := map[int][]string{}
	for _, pr := range problems {
		var i int
		if _, err := fmt.Sscanf(pr.Path, "routes[%d]", &i); err == nil && i >= 0 && i < len(routes) {
			why[i] = append(why[i], pr.String())
		}
	}
	owner := map[string]*ingress.IngressReport{}
	for _, ir := range rep.Ingresses {
		for _, n := range ir.Routes {
			owner[n] = ir
		}
	}
	var out []config.Route
	for i, r := range routes {
		reasons, broken := why[i]
		if !broken {
			out = append(out, r)
			continue
		}
		if ir := owner[r.Name]; ir != nil {
			ir.Items = append(ir.Items, ingress.Item{Key: "route " + r.Name, Value: r.Host + r.Path, Status: ingress.Unsupported,
				Reason: "disabled: " + strings.Join(reasons, "; ")})
			ir.Routes = slices.DeleteFunc(ir.Routes, func(n string) bool { return n == r.Name })
		}
	}
	return out
}

// certificates loads the spec.tls Secrets of the imported Ingresses and
// rewrites their report lines: served, or why not.
func (p *Provider) certificates(objs *ingress.Objects, rep *ingress.Report) []httproute.Certificate {
	byName := map[string]*networkingv1.Ingress{}
	for i := range objs.Ingresses {
		ing := &objs.Ingresses[i]
		byName[ing.Namespace+"/"+ing.Name] = ing
	}
	var out []httproute.Certificate
	for _, ir := range rep.Ingresses {
		ing := byName[ir.Namespace+"/"+ir.Name]
		if ir.Skipped != "" || ing == nil {
			continue
		}
		for i := range ir.Items {
			it := &ir.Items[i]
			var n int
			if _, err := fmt.Sscanf(it.Key, "spec.tls[%d]", &n); err != nil || n < 0 || n >= len(ing.Spec.TLS) {
				continue
			}
			t := ing.Spec.TLS[n]
			cert, hosts, err := p.loadSecret(ing.Namespace, t)
			if err != nil {
				it.Reason = err.Error()
				continue
			}
			out = append(out, httproute.Certificate{Hosts: hosts, Cert: cert})
			it.Status, it.Reason = ingress.Carried, fmt.Sprintf("served by SNI for %s from Secret %s/%s", strings.Join(hosts, ", "), ing.Namespace, t.SecretName)
		}
	}
	return out
}

func (p *Provider) loadSecret(ns string, t networkingv1.IngressTLS) (*tls.Certificate, []string, error) {
	if t.SecretName == "" {
		return nil, nil, errors.New("no secretName: ingress-nginx would serve its default certificate; weir serves the listener's")
	}
	o, ok, err := p.secrets.GetStore().GetByKey(ns + "/" + t.SecretName)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("Secret %s/%s is missing (or not of type %s)", ns, t.SecretName, corev1.SecretTypeTLS)
	}
	sec, ok := o.(*corev1.Secret)
	if !ok || sec.Type != corev1.SecretTypeTLS {
		return nil, nil, fmt.Errorf("Secret %s/%s is not of type %s", ns, t.SecretName, corev1.SecretTypeTLS)
	}
	cert, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		// The error names no key material.
		return nil, nil, fmt.Errorf("Secret %s/%s: not a usable certificate and key: %w", ns, t.SecretName, err)
	}
	hosts := t.Hosts
	if len(hosts) == 0 && cert.Leaf != nil {
		hosts = cert.Leaf.DNSNames
	}
	return &cert, hosts, nil
}

// upstreamSecret reads a proxy-ssl-secret Secret from the caches.
func (p *Provider) upstreamSecret(ns, name string) (ingress.TLSSecret, error) {
	if p.secrets == nil {
		return ingress.TLSSecret{}, fmt.Errorf("Secret %s/%s is not read: weir watches Secrets only with kubernetes.ingress.certificates: true", ns, name)
	}
	for _, inf := range []cache.SharedIndexInformer{p.secrets, p.opaque} {
		o, ok, err := inf.GetStore().GetByKey(ns + "/" + name)
		if err != nil || !ok {
			continue
		}
		if sec, ok := o.(*corev1.Secret); ok {
			return ingress.TLSSecret{
				CA:   string(sec.Data["ca.crt"]),
				Cert: string(sec.Data[corev1.TLSCertKey]),
				Key:  config.Secret(sec.Data[corev1.TLSPrivateKeyKey]),
			}, nil
		}
	}
	return ingress.TLSSecret{}, fmt.Errorf("Secret %s/%s is missing (or not of type %s or %s)", ns, name, corev1.SecretTypeTLS, corev1.SecretTypeOpaque)
}

// endpoints resolves a Service port to its ready endpoint addresses.
func (p *Provider) endpoints(services []corev1.Service, ns, name string, bp networkingv1.ServiceBackendPort) ([]string, bool) {
	i := slices.IndexFunc(services, func(s corev1.Service) bool { return s.Namespace == ns && s.Name == name })
	if i < 0 {
		return nil, false
	}
	svc := services[i]
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, false
	}
	j := slices.IndexFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
		return bp.Name != "" && sp.Name == bp.Name || bp.Name == "" && sp.Port == bp.Number
	})
	if j < 0 {
		return nil, false
	}
	sp := svc.Spec.Ports[j]
	list, err := p.sliceList.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		return nil, false
	}
	var out []string
	for _, es := range list {
		port := int32(0)
		for _, ep := range es.Ports {
			if ep.Port != nil && (ep.Name == nil && sp.Name == "" || ep.Name != nil && *ep.Name == sp.Name) {
				port = *ep.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), true
}
