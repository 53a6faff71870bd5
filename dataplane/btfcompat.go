package dataplane

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// btfCompatible compares the BTF layout of a pinned map's key and value with
// the spec's: same sizes can still hide reordered or retyped fields, which
// would make the new program misread the old state. Enums compare by size
// only, so appending a verdict stays compatible. A pin without BTF passes
// (sizes were compared already).
func btfCompatible(spec *ebpf.MapSpec, m *ebpf.Map) error {
	info, err := m.Info()
	if err != nil {
		return fmt.Errorf("map info: %w", err)
	}
	id, ok := info.BTFID()
	if !ok {
		return nil
	}
	h, err := btf.NewHandleFromID(id)
	if err != nil {
		return fmt.Errorf("pinned map BTF: %w", err)
	}
	defer h.Close()
	pinned, err := h.Spec(nil)
	if err != nil {
		return fmt.Errorf("pinned map BTF: %w", err)
	}
	var errs []error
	for _, part := range []struct {
		what string
		typ  btf.Type
	}{{"key", spec.Key}, {"value", spec.Value}} {
		if part.typ == nil {
			continue
		}
		name := part.typ.TypeName()
		if name == "" {
			continue
		}
		candidates, err := pinned.AnyTypesByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s type %s missing from pinned BTF", part.what, name))
			continue
		}
		want := shape(part.typ, 0)
		match := false
		for _, c := range candidates {
			if shape(c, 0) == want {
				match = true
				break
			}
		}
		if !match {
			errs = append(errs, fmt.Errorf("%s type %s: layout changed to %s (pinned %s)", part.what, name, want, shape(candidates[0], 0)))
		}
	}
	return errors.Join(errs...)
}

// shape renders the memory layout of t: member names, offsets and types.
func shape(t btf.Type, depth int) string {
	if depth > 8 {
		return "…"
	}
	switch v := t.(type) {
	case *btf.Typedef:
		return shape(v.Type, depth+1)
	case *btf.Volatile:
		return shape(v.Type, depth+1)
	case *btf.Const:
		return shape(v.Type, depth+1)
	case *btf.Int:
		return fmt.Sprintf("int%d", v.Size*8)
	case *btf.Enum:
		return fmt.Sprintf("enum%d", v.Size*8)
	case *btf.Array:
		return fmt.Sprintf("[%d]%s", v.Nelems, shape(v.Type, depth+1))
	case *btf.Struct:
		return members("struct", v.Size, v.Members, depth)
	case *btf.Union:
		return members("union", v.Size, v.Members, depth)
	default:
		return fmt.Sprintf("%T", t)
	}
}

func members(kind string, size uint32, ms []btf.Member, depth int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d{", kind, size)
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d:%s", m.Name, m.Offset.Bytes(), shape(m.Type, depth+1))
	}
	b.WriteByte('}')
	return b.String()
}
