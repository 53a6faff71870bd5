package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// showPinned reads pinned BPF state with inspect and prints it as a table
// (print) or as JSON. notPinned explains an empty pin directory. It returns
// the exit status: 0 printed, 1 nothing pinned or not readable.
func showPinned[T any](cmd string, stdout, stderr io.Writer, asJSON bool, inspect func() (T, error), notPinned string, print func(io.Writer, T)) int {
	r, err := inspect()
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "weirctl %s: %s\n", cmd, notPinned)
		return 1
	case errors.Is(err, os.ErrPermission):
		fmt.Fprintf(stderr, "weirctl %s: %v (reading BPF maps needs root or CAP_BPF)\n", cmd, err)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "weirctl %s: %v\n", cmd, err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "weirctl %s: %v\n", cmd, err)
			return 1
		}
		return 0
	}
	print(stdout, r)
	return 0
}
