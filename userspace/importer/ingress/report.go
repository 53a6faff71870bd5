package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/weir-gateway/weir/userspace/config"
)

// Status is what became of one annotation or Ingress field.
type Status int

// Statuses, from best to worst for the report's reader. Only Unsupported
// means something the Ingress asked for is not served by weir.
const (
	// Carried: weir does what ingress-nginx did.
	Carried Status = iota
	// Differs: carried, with a difference the Reason explains.
	Differs
	// Unsupported: not carried; weir's behaviour lacks it.
	Unsupported
	// Ignored: had no effect in ingress-nginx either (precedence, missing
	// prerequisite, not an ingress-nginx annotation).
	Ignored
)

// Item is one line of an Ingress's report.
type Item struct {
	// Key is the annotation name or the Ingress field (spec.tls[0]).
	Key    string
	Value  string
	Status Status
	Reason string
}

// IngressReport is what happened to one Ingress.
type IngressReport struct {
	Namespace, Name string
	// Skipped says why the Ingress was not imported (its class); empty
	// when it was.
	Skipped string
	// Routes names the routes made from it.
	Routes []string
	Items  []Item
}

func (r *IngressReport) add(key, value string, s Status, reason string) {
	r.Items = append(r.Items, Item{Key: key, Value: value, Status: s, Reason: reason})
}

// Report covers one Import.
type Report struct {
	Class     string
	Ingresses []*IngressReport
	// Skipped are input documents of other kinds.
	Skipped []string
}

// Lost reports whether anything an imported Ingress asked for is not
// carried over (an Unsupported item).
func (r *Report) Lost() bool {
	for _, ir := range r.Ingresses {
		for _, it := range ir.Items {
			if it.Status == Unsupported {
				return true
			}
		}
	}
	return false
}

// Notes are the differences from ingress-nginx that hold for every route,
// printed at the end of each report.
var Notes = []string{
	"the ingress-nginx ConfigMap is not read: its global defaults (proxy-body-size 1m, proxy-next-upstream \"error timeout\" with 3 tries, custom headers, ...) are not applied; set them per route",
	"plain-HTTP routes are served on weir's listeners; a request is https when it arrived over TLS there (X-Forwarded-Proto is not trusted)",
	"source ranges and per-client limits are enforced in Go on the route (the kernel guard is per tenant and global, it cannot see hosts and paths)",
}

// maxValue bounds an annotation value in the report (snippets are long).
const maxValue = 60

// WriteTo writes the report as text, one Ingress after another, and a
// summary line.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	var counts [4]int
	imported := 0
	for _, ir := range r.Ingresses {
		fmt.Fprintf(&b, "Ingress %s/%s: ", ir.Namespace, ir.Name)
		if ir.Skipped != "" {
			fmt.Fprintf(&b, "skipped: %s\n", ir.Skipped)
			continue
		}
		imported++
		if len(ir.Routes) == 0 {
			b.WriteString("no routes\n")
		} else {
			fmt.Fprintf(&b, "routes %s\n", strings.Join(ir.Routes, ", "))
		}
		for _, it := range ir.Items {
			counts[it.Status]++
			fmt.Fprintf(&b, "  %-11s %s=%s", it.Status, it.Key, quoteShort(it.Value))
			if it.Reason != "" {
				fmt.Fprintf(&b, ": %s", it.Reason)
			}
			b.WriteByte('\n')
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "not read: %s (weir imports Ingress, IngressClass and Service)\n", s)
	}
	for _, n := range Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "summary: class %q, %d Ingresses (%d imported, %d skipped); %d carried, %d with differences, %d not supported, %d ignored\n",
		r.Class, len(r.Ingresses), imported, len(r.Ingresses)-imported,
		counts[Carried], counts[Differs], counts[Unsupported], counts[Ignored])
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

func quoteShort(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	if len(s) > maxValue {
		s = s[:maxValue] + "…"
	}
	return strconv.Quote(s)
}

// MarshalRoutes renders routes as a weir configuration file (version 1
// and routes) in the field order of config.Route, leaving out empty values.
func MarshalRoutes(routes []config.Route) ([]byte, error) {
	doc := struct {
		Version int            `json:"version"`
		Routes  []config.Route `json:"routes"`
	}{1, routes}
	if doc.Routes == nil {
		doc.Routes = []config.Route{}
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("marshal routes: %w", err)
	}
	// JSON is YAML: decoding it into a node keeps the key order, and
	// clearing the flow style prints it as block YAML.
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, fmt.Errorf("marshal routes: %w", err)
	}
	blockStyle(&n)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("marshal routes: %w", err)
	}
	return out.Bytes(), nil
}

var yaml11Bool = map[string]bool{}

func init() {
	for _, w := range []string{"y", "yes", "n", "no", "on", "off", "true", "false"} {
		yaml11Bool[w] = true
		yaml11Bool[strings.ToUpper(w)] = true
		yaml11Bool[strings.ToUpper(w[:1])+w[1:]] = true
	}
}

// blockStyle prints n as block YAML and escapes what weir's loader would expand.
func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style = 0 // the encoder quotes again where YAML needs it
		// weir expands ${VAR} when it loads a config; "$${" is a literal "${".
		n.Value = strings.ReplaceAll(n.Value, "${", "$${")
		if yaml11Bool[n.Value] {
			// Strings to weir's YAML 1.2 loader, booleans to YAML 1.1 tools.
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
