package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/weir-gateway/weir/userspace/config"
)

func init() {
	commands["validate"] = command{summary: "check configuration files and print every problem", run: runValidate}
}

// maxStdinBytes bounds a configuration read from standard input, as
// config.LoadFile bounds a file.
const maxStdinBytes = 32 << 20

func runValidate(args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weirctl validate FILE...

Loads each configuration file exactly as weir does (strict YAML, ${ENV}
expansion from this environment, defaults, key files, every rule) and
prints "FILE: ok" on standard output, or every problem on standard error
as "FILE:LINE: path: message". FILE "-" reads standard input.

Exit status: 0 all files valid, 1 a file is invalid or unreadable, 2 usage error.
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "weirctl validate: no FILE given")
		fs.Usage()
		return 2
	}
	code := 0
	for _, name := range fs.Args() {
		if !validateOne(name, os.Stdout, os.Stderr) {
			code = 1
		}
	}
	return code
}

// validateOne loads one file and reports on it; it returns whether the
// file is valid.
func validateOne(name string, stdout, stderr io.Writer) bool {
	label := name
	var err error
	if name == "-" {
		label = "<stdin>"
		var data []byte
		data, err = io.ReadAll(io.LimitReader(os.Stdin, maxStdinBytes+1))
		switch {
		case err != nil:
			err = fmt.Errorf("read standard input: %w", err)
		case len(data) > maxStdinBytes:
			err = fmt.Errorf("standard input is larger than %d bytes", maxStdinBytes)
		default:
			_, err = config.Load(data)
		}
	} else {
		_, err = config.LoadFile(name)
	}
	if err == nil {
		fmt.Fprintf(stdout, "%s: ok\n", label)
		return true
	}
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		fmt.Fprintf(stderr, "%s: %v\n", label, err)
		return false
	}
	for _, p := range ve.Problems {
		loc := label
		if p.Line > 0 {
			loc = fmt.Sprintf("%s:%d", label, p.Line)
		}
		msg := p.Message
		if p.Path != "" {
			msg = p.Path + ": " + msg
		}
		fmt.Fprintf(stderr, "%s: %s\n", loc, msg)
	}
	return false
}
