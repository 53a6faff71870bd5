package ingress

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// maxInputBytes bounds one input file; Ingress manifests are far smaller.
const maxInputBytes = 32 << 20

// Objects are the Kubernetes objects an import reads. Services are used to
// resolve named ports and ExternalName Services; IngressClasses to select
// Ingresses by controller and to find the default class.
type Objects struct {
	Ingresses []networkingv1.Ingress
	Classes   []networkingv1.IngressClass
	Services  []corev1.Service
	// Skipped lists the documents that are not one of those kinds, as
	// "source: kind name", so the report can mention them.
	Skipped []string
}

// typeMeta is what every document is first decoded as.
type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// ReadPath reads every *.yaml, *.yml and *.json file under path (or the
// file itself), in lexical order.
func ReadPath(path string) (*Objects, error) {
	var files []string
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if info.IsDir() {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		slices.Sort(files)
	} else {
		files = []string{path}
	}
	objs := &Objects{}
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			return nil, err
		}
		if err := objs.Add(f, data); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxInputBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxInputBytes)
	}
	return data, nil
}

// Add decodes a (multi-document) YAML or JSON stream and adds its
// objects; a "kind: List" (kubectl get -o yaml) is unpacked. source names
// the stream in errors.
func (o *Objects) Add(source string, data []byte) error {
	for i, doc := range splitDocuments(data) {
		if err := o.addDocument(fmt.Sprintf("%s: document %d", source, i+1), doc, 0); err != nil {
			return err
		}
	}
	return nil
}

func (o *Objects) addDocument(where string, doc []byte, depth int) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil // an empty document
	}
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("%s: not a Kubernetes object: %w", where, err)
	}
	strict := func(v any) error {
		if err := yaml.UnmarshalStrict(js, v); err != nil {
			return fmt.Errorf("%s: %s %q: %w", where, tm.Kind, tm.Metadata.Name, err)
		}
		return nil
	}
	switch {
	case tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && tm.Items != nil:
		if depth > 0 {
			return fmt.Errorf("%s: nested lists are not supported", where)
		}
		for i, item := range tm.Items {
			if err := o.addDocument(fmt.Sprintf("%s: items[%d]", where, i), item, depth+1); err != nil {
				return err
			}
		}
	case tm.Kind == "Ingress" && tm.APIVersion == "networking.k8s.io/v1":
		var ing networkingv1.Ingress
		if err := strict(&ing); err != nil {
			return err
		}
		if ing.Namespace == "" {
			ing.Namespace = "default"
		}
		o.Ingresses = append(o.Ingresses, ing)
	case tm.Kind == "Ingress":
		return fmt.Errorf("%s: Ingress %q has apiVersion %q; only networking.k8s.io/v1 is supported (convert it with kubectl convert)", where, tm.Metadata.Name, tm.APIVersion)
	case tm.Kind == "IngressClass" && tm.APIVersion == "networking.k8s.io/v1":
		var c networkingv1.IngressClass
		if err := strict(&c); err != nil {
			return err
		}
		o.Classes = append(o.Classes, c)
	case tm.Kind == "Service" && tm.APIVersion == "v1":
		var s corev1.Service
		if err := strict(&s); err != nil {
			return err
		}
		if s.Namespace == "" {
			s.Namespace = "default"
		}
		o.Services = append(o.Services, s)
	default:
		o.Skipped = append(o.Skipped, fmt.Sprintf("%s: %s %q", where, tm.Kind, tm.Metadata.Name))
	}
	return nil
}

// splitDocuments splits a YAML stream at "---" lines. A JSON stream is one
// document.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxInputBytes+1)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("---")) && len(bytes.TrimSpace(line[3:])) == 0 {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, cur.Bytes())
	var out [][]byte
	for _, d := range docs {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// stripComments drops whole-line comments, to tell an empty document from one with content.
func stripComments(d []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.SplitSeq(d, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
		}
	}
	return b.Bytes()
}
