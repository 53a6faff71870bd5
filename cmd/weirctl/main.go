// Command weirctl is weir's operator CLI.
//
//	weirctl validate FILE...   check configuration files, print every problem
//	weirctl help [COMMAND]     list the commands, or show one command's usage
//
// Subcommands live in their own files and register themselves in init(),
// so adding one (maps, import-ingress) never edits this file:
//
//	func init() {
//		commands["maps"] = command{summary: "print weir's kernel maps", run: runMaps}
//	}
//
// Exit codes: 0 success, 1 the command ran and found a problem, 2 usage error.
package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// command is one weirctl subcommand.
type command struct {
	// summary is the one-line description shown by "weirctl help".
	summary string
	// run executes the command with the arguments after its name and
	// returns the exit code. It must answer -h with its usage on stderr and
	// return 0, so "weirctl help NAME" can show it.
	run func(args []string) int
}

// commands holds every subcommand by name; files add theirs in init().
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "weirctl: unknown command %q\n\n", name)
		usage(os.Stderr)
		return 2
	}
	return c.run(args[1:])
}

// usage lists the commands in name order.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: weirctl COMMAND [ARGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := slices.Sorted(maps.Keys(commands))
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "weirctl help COMMAND" for a command's usage.`)
}

func init() {
	commands["help"] = command{summary: "list the commands, or show one command's usage", run: runHelp}
}

func runHelp(args []string) int {
	switch {
	case len(args) == 0:
		usage(os.Stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintln(os.Stderr, "usage: weirctl help [COMMAND]")
		return 2
	}
	name := strings.TrimSpace(args[0])
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "weirctl: unknown command %q\n\n", name)
		usage(os.Stderr)
		return 2
	}
	if name == "help" {
		fmt.Fprintln(os.Stderr, "usage: weirctl help [COMMAND]")
		return 0
	}
	return c.run([]string{"-h"})
}
