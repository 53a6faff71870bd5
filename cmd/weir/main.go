// Command weir is the node-level AI gateway agent.
//
//	weir [-config FILE] [-log-level LEVEL]   serve (no -config: the embedded default config)
//	weir -check-kernel                        print what the kernel supports and exit
//	weir version                              print the version and exit
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/weir-gateway/weir/userspace/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "weir", versionString())
		return 0
	}
	fs := flag.NewFlagSet("weir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); without it weir runs its embedded default config")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn or error (overrides log.level)")
	checkKernel := fs.Bool("check-kernel", false, "print which kernel features weir can use, then exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weir: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "weir", versionString())
		return 0
	case *checkKernel:
		return agent.CheckKernel(stdout)
	}
	if err := agent.Run(context.Background(), agent.Options{ConfigPath: *configPath, LogLevel: *logLevel, Stderr: stderr, Stdout: stdout}); err != nil {
		fmt.Fprintln(stderr, "weir:", err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value[:min(12, len(s.Value))]
			}
		}
		if bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "dev"
}
