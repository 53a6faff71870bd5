package agent

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/weir-gateway/weir/dataplane"
)

// CheckKernel prints what this kernel and process can do and which kernel
// features weir will use. It always exits 0: a missing feature means weir
// serves with L7 limits only, which is a supported way to run.
func CheckKernel(w io.Writer) int {
	caps := dataplane.Probe()
	release := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		release = strings.TrimSpace(string(b))
	}
	_, btfErr := os.Stat("/sys/kernel/btf/vmlinux")
	fmt.Fprintf(w, "kernel: %s\n", release)
	fmt.Fprintf(w, "btf (/sys/kernel/btf/vmlinux): %s\n", yesNo(btfErr == nil))
	f := caps.Features()
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "feature %-12s %s\n", n, yesNo(f[n]))
	}
	if caps.Err != nil {
		fmt.Fprintf(w, "probe error: %v\n", caps.Err)
	}
	for _, hook := range []dataplane.Hook{dataplane.HookTC, dataplane.HookXDP} {
		if err := caps.Require(hook); err != nil {
			fmt.Fprintf(w, "guard on %s: unavailable (%v); weir serves with L7 limits only\n", hook, err)
			continue
		}
		link := ""
		if hook == dataplane.HookTC {
			link = " via cls_bpf (clsact qdisc)"
			if caps.TCX {
				link = " via tcx link"
			}
		}
		fmt.Fprintf(w, "guard on %s: available%s\n", hook, link)
	}
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
