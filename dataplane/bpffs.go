package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the guard pins its maps and links.
const DefaultRoot = "/sys/fs/bpf/weir"

const defaultBPFFS = "/sys/fs/bpf"

// isBPFFS reports whether dir is on a bpf filesystem.
func isBPFFS(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.BPF_FS_MAGIC
}

// ensureRoot creates the pin directory root, whose parent must be on a bpf
// filesystem. When the parent is /sys/fs/bpf and nothing is mounted there
// yet (minimal hosts and VMs), bpffs is mounted, as bpftool does.
func ensureRoot(root string, mounted func(string)) error {
	parent := filepath.Dir(filepath.Clean(root))
	if !isBPFFS(parent) {
		if parent != defaultBPFFS {
			return fmt.Errorf("pin root %s: %s is not on a bpf filesystem", root, parent)
		}
		if err := unix.Mount("bpf", defaultBPFFS, "bpf", 0, "mode=0700"); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("mount bpffs at %s: %w", defaultBPFFS, ErrPermission)
			}
			return fmt.Errorf("mount bpffs at %s: %w", defaultBPFFS, err)
		}
		mounted(defaultBPFFS)
	}
	if err := os.MkdirAll(filepath.Join(root, linksDir), 0o700); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("create pin root: %w", ErrPermission)
		}
		return fmt.Errorf("create pin root: %w", err)
	}
	return nil
}

// linksDir holds the pinned links below the root.
const linksDir = "links"
