package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/weir-gateway/weir/dataplane/steer"
)

func init() {
	commands["steer"] = command{summary: "print the kernel steering table: listener slots, rules, tenant listeners and counters", run: runSteer}
}

func runSteer(args []string) int { return steerMain(args, os.Stdout, os.Stderr) }

func steerMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("steer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", mapsRootDefault(), "bpffs directory the steering maps are pinned under ($WEIR_DATAPLANE_ROOT)")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weirctl steer [-root DIR] [-json]

Reads the pinned sk_lookup steering maps directly (weir need not be running;
reading BPF maps needs root or CAP_BPF) and prints each listener's slot,
whether a socket is registered in it, how many connection lookups were
steered to it or missed, the port classes, the destination rules and the
tenant listeners (by source prefix).

Exit status: 0 printed, 1 nothing pinned or not readable, 2 usage error.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weirctl steer: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	return showPinned("steer", stdout, stderr, *asJSON, func() (*steer.Report, error) { return steer.Inspect(*root) },
		fmt.Sprintf("no steering maps pinned under %s (is weir running with dataplane.steer rules, or pinned elsewhere? see -root)", *root), printSteer)
}

func printSteer(w io.Writer, r *steer.Report) {
	fmt.Fprintf(w, "pins: %s\n\n", r.Root)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tSLOT\tSOCKET\tSTEERED\tMISS NO SOCKET\tMISS ASSIGN")
	for _, l := range r.Listeners {
		sock := "no"
		if l.Socket {
			sock = "yes"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\n", l.Listener, l.Slot, sock, l.Steered, l.MissNoSocket, l.MissAssign)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "PORTS\tCLASS")
	for _, p := range r.Ports {
		fmt.Fprintf(tw, "%s\t%d\n", p.Ports, p.PortClass)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "CLASS\tDESTINATION\tRULE\tLISTENER")
	for _, d := range r.Rules {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", d.PortClass, d.Destination, d.Rule, d.Listener)
	}
	tw.Flush()
	if len(r.Classes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "RULE\tSOURCE\tTENANT LISTENER")
		for _, c := range r.Classes {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", c.Rule, c.Source, c.Listener)
		}
		tw.Flush()
	}
}
