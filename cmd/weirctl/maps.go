package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/dataplane/steer"
)

func init() {
	commands["maps"] = command{summary: "print the kernel guard's tenants, limits, bucket levels and counters", run: runMaps}
}

func runMaps(args []string) int { return mapsMain(args, os.Stdout, os.Stderr) }

// mapsRootDefault is the pin directory weir uses, as the agent resolves it.
func mapsRootDefault() string {
	if r := os.Getenv("WEIR_DATAPLANE_ROOT"); r != "" {
		return r
	}
	return dataplane.DefaultRoot
}

func mapsMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("maps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", mapsRootDefault(), "bpffs directory the guard is pinned under ($WEIR_DATAPLANE_ROOT)")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weirctl maps [-root DIR] [-json]

Reads the kernel guard's pinned maps and links directly (weir need not be
running; reading BPF maps needs root or CAP_BPF) and prints each tenant's
kernel limits and live bucket levels (tokens left now), blocks, the
classification and deny rules, the listener ports' source rules (drop,
limit, pass exceptions), the per-verdict packet counters and where the
guard is attached.

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
		fmt.Fprintf(stderr, "weirctl maps: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	code := showPinned("maps", stdout, stderr, *asJSON, func() (*dataplane.Report, error) { return dataplane.Inspect(*root) },
		fmt.Sprintf("no kernel guard pinned under %s (is weir running with the guard, or pinned elsewhere? see -root)", *root), printReport)
	// The steering table, when weir steers connections, follows the guard's
	// tables (weirctl steer -json has it as JSON).
	if !*asJSON {
		if r, err := steer.Inspect(*root); err == nil {
			fmt.Fprintln(stdout, "\nsteering (sk_lookup):")
			printSteer(stdout, r)
		}
	}
	return code
}

func printReport(w io.Writer, r *dataplane.Report) {
	fmt.Fprintf(w, "pins: %s\n", r.Root)
	if len(r.Links) == 0 {
		fmt.Fprintln(w, "attached: no pinned links (not attached, or attached with cls_bpf)")
	}
	for _, l := range r.Links {
		fmt.Fprintf(w, "attached: %s on %s (ifindex %d, link %d, program %d)\n", l.Type, l.Interface, l.Ifindex, l.ID, l.ProgramID)
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tID\tPACKETS/S\tLEFT\tCONNS/S\tLEFT\tSRC CONNS/S\tSOURCES AT LIMIT\tBLOCKED FOR\tPACKETS\tDROPPED")
	for _, t := range r.Tenants {
		blocked := "-"
		if t.BlockedFor > 0 {
			blocked = t.BlockedFor.Round(time.Second).String()
		}
		atLimit := "-"
		if t.Limits.SourceConnections.PerSecond > 0 {
			atLimit = fmt.Sprintf("%d of %d", t.SourcesAtLimit, t.SourcesTracked)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", t.Name, t.ID,
			rateText(t.Limits.Packets), level(t.PacketTokens), rateText(t.Limits.Connections), level(t.ConnectionTokens),
			rateText(t.Limits.SourceConnections), atLimit, blocked, t.Packets, t.Dropped)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nsources (%d tracked by the per-source limiter):\n", r.TrackedSources)
	if len(r.Sources) == 0 {
		fmt.Fprintln(w, "  none: every packet falls into the default class")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Sources {
		fmt.Fprintf(tw, "  %s\t-> %s\n", s.Source, s.Tenant)
	}
	tw.Flush()

	fmt.Fprintln(w, "\ndeny:")
	if len(r.Deny) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range r.Deny {
		fmt.Fprintf(w, "  %s\n", p)
	}

	fmt.Fprintln(w, "\nlistener ports (rules compiled from the plain routes; the longest matching source wins):")
	if len(r.Ports) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range r.Ports {
		bound := "no connection bound"
		if p.SourceConnections.PerSecond > 0 {
			bound = fmt.Sprintf("limit: %s new connections/s per source, %d of %d tracked sources at the limit",
				rateText(p.SourceConnections), p.SourcesAtLimit, p.SourcesTracked)
		}
		fmt.Fprintf(w, "  %s/%d (%s)\n", p.Proto, p.Port, bound)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range p.Entries {
			fmt.Fprintf(tw, "    %s\t%s\n", e.Source, e.Action)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\ncounters:")
	if len(r.Counters) == 0 {
		fmt.Fprintln(w, "  none yet")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TENANT\tVERDICT\tPACKETS\tBYTES")
	for _, c := range r.Counters {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\n", c.Tenant, c.Verdict, c.Packets, c.Bytes)
	}
	tw.Flush()
}

// rateText formats a bucket as "200 (burst 50)", or "unlimited".
func rateText(r dataplane.Rate) string {
	if r.PerSecond == 0 {
		return "unlimited"
	}
	burst := max(r.Burst, 1)
	if burst == r.PerSecond {
		return strconv.FormatUint(r.PerSecond, 10)
	}
	return fmt.Sprintf("%d (burst %d)", r.PerSecond, burst)
}

func level(tokens *uint64) string {
	if tokens == nil {
		return "-"
	}
	return strconv.FormatUint(*tokens, 10)
}
