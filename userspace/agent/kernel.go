package agent

import (
	"fmt"
	"io"
)

// CheckKernel prints which kernel features weir can use on this machine.
// The data plane fills this in; until it is wired the answer is honest.
func CheckKernel(w io.Writer) int {
	fmt.Fprintln(w, "kernel data plane: not built into this version of weir")
	return 0
}
