package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/importer/ingress"
	"github.com/weir-gateway/weir/userspace/importer/kube"
)

func init() {
	commands["import-ingress"] = command{summary: "translate Kubernetes Ingress objects (ingress-nginx) into weir routes", run: runImportIngress}
}

// exitLost is import-ingress's exit status when something was not carried.
const exitLost = 3

// importFromCluster reads the cluster once through the Kubernetes provider.
func importFromCluster(kubeconfig, namespace string, timeout time.Duration, opt ingress.Options) (kube.Update, error) {
	var rc *rest.Config
	var err error
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		rc, err = rest.InClusterConfig()
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfig
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	}
	if err != nil {
		return kube.Update{}, fmt.Errorf("kubeconfig: %w", err)
	}
	rc.Timeout = timeout
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return kube.Update{}, fmt.Errorf("kubernetes client: %w", err)
	}
	p, err := kube.New(client, kube.Options{Import: opt, Namespace: namespace, OnUpdate: func(kube.Update) {}})
	if err != nil {
		return kube.Update{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Once(ctx)
}

func runImportIngress(args []string) int {
	return importIngress(args, os.Stdout, os.Stderr)
}

func importIngress(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-ingress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file         = fs.String("f", "", "Ingress YAML/JSON file, or a directory of them (required)")
		class        = fs.String("ingress-class", "nginx", "the ingress class ingress-nginx served")
		controller   = fs.String("controller", "k8s.io/ingress-nginx", "IngressClass spec.controller that counts as ingress-nginx")
		withoutClass = fs.Bool("watch-without-class", false, "also import Ingresses without a class (ingress-nginx --watch-ingress-without-class)")
		domain       = fs.String("cluster-domain", "cluster.local", "cluster DNS domain for Service names")
		reportFile   = fs.String("report", "", "write the report to this file instead of standard error")
		fromCluster  = fs.Bool("from-cluster", false, "read Ingresses, IngressClasses, Services and EndpointSlices from the cluster (kubeconfig, or in-cluster)")
		kubeconfig   = fs.String("kubeconfig", "", "kubeconfig file for --from-cluster; default $KUBECONFIG or ~/.kube/config")
		namespace    = fs.String("namespace", "", "with --from-cluster, read only this namespace")
		timeout      = fs.Duration("timeout", 30*time.Second, "with --from-cluster, how long to wait for the cluster")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weirctl import-ingress -f FILE_OR_DIR [flags]
       weirctl import-ingress --from-cluster [--kubeconfig FILE] [--namespace NS] [flags]

Reads Kubernetes Ingress objects (networking.k8s.io/v1; multi-document
YAML, JSON, kind: List; IngressClass and Service objects in the same input
are used to select classes and resolve named ports), selects those of the
ingress class, and prints the equivalent weir configuration (version and
routes) on standard output. With --from-cluster the objects come from the
cluster instead, and Services resolve to their ready endpoints. The report goes to standard error: per
Ingress, every annotation as carried, differs (carried with a difference,
explained), unsupported (not carried) or ignored (no effect in
ingress-nginx either). Snippets and unknown annotations are unsupported.

Exit status: 0 everything carried, 3 something was not carried (see the
"unsupported" lines), 1 the input could not be read, 2 usage error.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*file == "") == !*fromCluster || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "weirctl import-ingress: give -f FILE_OR_DIR or --from-cluster (and no other arguments)")
		fs.Usage()
		return 2
	}
	opt := ingress.Options{IngressClass: *class, Controller: *controller, WatchWithoutClass: *withoutClass, ClusterDomain: *domain}
	var routes []config.Route
	var rep *ingress.Report
	if *fromCluster {
		u, err := importFromCluster(*kubeconfig, *namespace, *timeout, opt)
		if err != nil {
			fmt.Fprintf(stderr, "weirctl import-ingress: %v\n", err)
			return 1
		}
		routes, rep = u.Routes, u.Report
	} else {
		objs, err := ingress.ReadPath(*file)
		if err != nil {
			fmt.Fprintf(stderr, "weirctl import-ingress: %v\n", err)
			return 1
		}
		routes, rep = ingress.Import(objs, opt)
	}
	out, err := ingress.MarshalRoutes(routes)
	if err == nil {
		// The output must load as weir loads it; anything else is a bug here.
		_, err = config.Load(out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "weirctl import-ingress: internal error, the translated config is invalid: %v\n", err)
		return 1
	}
	repOut := stderr
	if *reportFile != "" {
		f, err := os.Create(*reportFile)
		if err != nil {
			fmt.Fprintf(stderr, "weirctl import-ingress: %v\n", err)
			return 1
		}
		defer f.Close()
		repOut = f
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "weirctl import-ingress: %v\n", err)
		return 1
	}
	if _, err := rep.WriteTo(repOut); err != nil {
		fmt.Fprintf(stderr, "weirctl import-ingress: %v\n", err)
		return 1
	}
	if rep.Lost() {
		return exitLost
	}
	return 0
}
