package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CleanSchema converts a JSON Schema (as OpenAI and Anthropic tools and
// response formats carry it) to the OpenAPI 3.0 subset Gemini's Schema
// accepts. Key order is kept. With ordering, every object also gets a
// propertyOrdering (Gemini otherwise orders generated JSON keys itself).
//
// Kept: type (upper-cased), format (date-time and enum for strings; int32,
// int64, float, double for numbers), title, description, nullable, enum
// (strings), default, example, properties, required (names that exist),
// items, anyOf, minimum, maximum, minItems, maxItems, minLength, maxLength,
// minProperties, maxProperties, pattern, propertyOrdering.
//
// Rewritten: $ref to #/$defs/… or #/definitions/… is inlined; const becomes
// a one-value enum; oneOf becomes anyOf; a one-element allOf is merged; a
// type array or anyOf member "null" becomes nullable: true; an object whose
// properties are empty loses the empty properties map.
//
// Stripped (Gemini has no way to enforce them): $schema, $id, $comment,
// $defs, definitions, additionalProperties, unevaluatedProperties,
// patternProperties, propertyNames, dependencies, dependentRequired,
// dependentSchemas, examples, readOnly, writeOnly, deprecated,
// contentEncoding, contentMediaType, multipleOf, uniqueItems,
// exclusiveMinimum, exclusiveMaximum, minContains, maxContains, strict and
// any other unknown keyword, and unsupported formats (uri, email, …).
//
// Rejected with an error naming it: not, if/then/else, allOf with several
// members, recursive or external $ref, tuple items (prefixItems or an items
// array), enum or const values that are not strings, and type arrays with
// more than one non-null type.
func CleanSchema(raw json.RawMessage, ordering bool) (json.RawMessage, error) {
	root, err := parseOrdered(raw)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	obj, ok := root.(*object)
	if !ok {
		return nil, errors.New("schema: must be a JSON object")
	}
	c := cleaner{defs: map[string]any{}, ordering: ordering}
	for _, k := range []string{"$defs", "definitions"} {
		if d, ok := obj.get(k).(*object); ok {
			for _, name := range d.keys {
				c.defs["#/"+k+"/"+name] = d.m[name]
			}
		}
	}
	out, err := c.clean(obj, "", 0)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var b bytes.Buffer
	writeOrdered(&b, out)
	return b.Bytes(), nil
}

// HasProperties reports whether a cleaned object schema declares any
// property; Gemini rejects function parameters of type OBJECT without.
func HasProperties(schema json.RawMessage) bool {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	return json.Unmarshal(schema, &s) == nil && len(s.Properties) > 0
}

const maxSchemaDepth = 64

type cleaner struct {
	defs     map[string]any
	resolved []string // $refs being inlined, to detect recursion
	ordering bool
}

var (
	keepKeys = map[string]bool{
		"title": true, "description": true, "nullable": true, "default": true, "example": true,
		"minimum": true, "maximum": true, "minItems": true, "maxItems": true, "minLength": true,
		"maxLength": true, "minProperties": true, "maxProperties": true, "pattern": true,
	}
	rejectKeys = map[string]bool{"not": true, "if": true, "then": true, "else": true, "prefixItems": true}
)

func (c *cleaner) clean(n *object, path string, depth int) (*object, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d levels", orRoot(path), maxSchemaDepth)
	}
	if ref, ok := n.get("$ref").(string); ok {
		return c.inline(n, ref, path, depth)
	}
	out := &object{m: map[string]any{}}
	nullable := false
	for _, k := range n.keys {
		v := n.m[k]
		at := path + "/" + k
		switch {
		case rejectKeys[k]:
			return nil, fmt.Errorf("%s: keyword %q is not supported by Gemini", orRoot(path), k)
		case keepKeys[k]:
			out.set(k, v)
		case k == "type":
			t, null, err := schemaType(v, at)
			if err != nil {
				return nil, err
			}
			nullable = nullable || null
			if t != "" {
				out.set("type", t)
			}
		case k == "format":
			if f, ok := v.(string); ok && formatAllowed(n.get("type"), f) {
				out.set("format", f)
			}
		case k == "enum" || k == "const":
			vals := []any{v}
			if k == "enum" {
				arr, ok := v.([]any)
				if !ok {
					return nil, fmt.Errorf("%s: enum must be an array", at)
				}
				vals = arr
			}
			for _, e := range vals {
				if _, ok := e.(string); !ok {
					return nil, fmt.Errorf("%s: Gemini accepts only string enum values", at)
				}
			}
			out.set("enum", vals)
		case k == "properties":
			props, ok := v.(*object)
			if !ok {
				return nil, fmt.Errorf("%s: properties must be an object", at)
			}
			cp := &object{m: map[string]any{}}
			for _, name := range props.keys {
				p, ok := props.m[name].(*object)
				if !ok {
					return nil, fmt.Errorf("%s/%s: a property schema must be an object", at, name)
				}
				cs, err := c.clean(p, at+"/"+name, depth+1)
				if err != nil {
					return nil, err
				}
				cp.set(name, cs)
			}
			if len(cp.keys) > 0 {
				out.set("properties", cp)
				if c.ordering {
					order := make([]any, len(cp.keys))
					for i, name := range cp.keys {
						order[i] = name
					}
					out.set("propertyOrdering", order)
				}
			}
		case k == "items":
			it, ok := v.(*object)
			if !ok {
				return nil, fmt.Errorf("%s: tuple items (an array) are not supported by Gemini", at)
			}
			cs, err := c.clean(it, at, depth+1)
			if err != nil {
				return nil, err
			}
			out.set("items", cs)
		case k == "anyOf" || k == "oneOf":
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an array", at)
			}
			var members []any
			for i, m := range arr {
				mo, ok := m.(*object)
				if !ok {
					return nil, fmt.Errorf("%s/%d: must be a schema object", at, i)
				}
				if t, _ := mo.get("type").(string); t == "null" && len(mo.keys) == 1 {
					nullable = true
					continue
				}
				cs, err := c.clean(mo, fmt.Sprintf("%s/%d", at, i), depth+1)
				if err != nil {
					return nil, err
				}
				members = append(members, cs)
			}
			if len(members) == 1 {
				for _, mk := range members[0].(*object).keys {
					if _, dup := out.m[mk]; !dup {
						out.set(mk, members[0].(*object).m[mk])
					}
				}
			} else if len(members) > 1 {
				out.set("anyOf", members)
			}
		case k == "allOf":
			arr, ok := v.([]any)
			if !ok || len(arr) != 1 {
				return nil, fmt.Errorf("%s: allOf with several members is not supported by Gemini", at)
			}
			mo, ok := arr[0].(*object)
			if !ok {
				return nil, fmt.Errorf("%s/0: must be a schema object", at)
			}
			cs, err := c.clean(mo, at+"/0", depth+1)
			if err != nil {
				return nil, err
			}
			for _, mk := range cs.keys {
				if _, dup := out.m[mk]; !dup {
					out.set(mk, cs.m[mk])
				}
			}
		}
	}
	if nullable {
		out.set("nullable", true)
	}
	if req, ok := n.get("required").([]any); ok {
		props, _ := out.get("properties").(*object)
		var kept []any
		for _, r := range req {
			if s, ok := r.(string); ok && props != nil && props.get(s) != nil {
				kept = append(kept, s)
			}
		}
		if len(kept) > 0 {
			out.set("required", kept)
		}
	}
	return out, nil
}

// inline replaces a $ref by the cleaned definition, with the referring
// object's description and title taking precedence.
func (c *cleaner) inline(n *object, ref, path string, depth int) (*object, error) {
	def, ok := c.defs[ref].(*object)
	if !ok {
		return nil, fmt.Errorf("%s: $ref %q is not a local definition", orRoot(path), ref)
	}
	for _, r := range c.resolved {
		if r == ref {
			return nil, fmt.Errorf("%s: recursive $ref %q is not supported by Gemini", orRoot(path), ref)
		}
	}
	c.resolved = append(c.resolved, ref)
	out, err := c.clean(def, path, depth+1)
	c.resolved = c.resolved[:len(c.resolved)-1]
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"description", "title"} {
		if v, ok := n.get(k).(string); ok {
			out.set(k, v)
		}
	}
	return out, nil
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// schemaType upper-cases a type; a ["T","null"] array gives T and nullable.
func schemaType(v any, at string) (string, bool, error) {
	if s, ok := v.(string); ok {
		if s == "null" {
			return "", true, nil
		}
		return strings.ToUpper(s), false, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return "", false, fmt.Errorf("%s: type must be a string or an array", at)
	}
	t, null := "", false
	for _, e := range arr {
		s, _ := e.(string)
		switch {
		case s == "null":
			null = true
		case t == "":
			t = strings.ToUpper(s)
		default:
			return "", false, fmt.Errorf("%s: a type array with several non-null types is not supported by Gemini", at)
		}
	}
	return t, null, nil
}

func formatAllowed(typ any, f string) bool {
	t, _ := typ.(string)
	switch strings.ToLower(t) {
	case "string":
		return f == "date-time" || f == "enum"
	case "number", "integer":
		return f == "int32" || f == "int64" || f == "float" || f == "double"
	}
	return false
}

// object is a JSON object that keeps its key order.
type object struct {
	keys []string
	m    map[string]any
}

func (o *object) get(k string) any { return o.m[k] }

func (o *object) set(k string, v any) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// parseOrdered decodes JSON into nil, bool, json.Number, string, []any and
// *object values.
func parseOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > 2*maxSchemaDepth+8 {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{m: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %q", t)
	}
	return tok, nil
}

func writeOrdered(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeOrdered(b, t.m[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeOrdered(b, e)
		}
		b.WriteByte(']')
	default:
		vb, _ := json.Marshal(t)
		b.Write(vb)
	}
}
