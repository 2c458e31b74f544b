// Command benchreport runs eddy's benchmarks and rewrites BENCHMARKS.md.
//
// Every figure is measured beside a baseline in the same run, so that the ratio, not the
// absolute number, is what one compares between machines. Each section lives in its own
// file and registers itself; sections run one after the other so they do not compete for
// the machine's cores.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"
)

// section is one part of the report.
type section struct {
	order int
	title string
	// run measures and returns the section's markdown body.
	run func(ctx context.Context) (string, error)
}

var sections []section

func register(s section) { sections = append(sections, s) }

func main() {
	out := flag.String("out", "BENCHMARKS.md", "file to write")
	only := flag.String("only", "", "run only sections whose title contains this")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	slices.SortFunc(sections, func(a, b section) int { return a.order - b.order })
	var body bytes.Buffer
	fmt.Fprintf(&body, "# eddy benchmarks\n\nWritten by `make bench` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&body, "Machine: %s\n\n", machine())
	fmt.Fprintf(&body, "Every ratio compares two figures measured in the same run on this machine; each figure is the median of several runs.\n\n")
	for _, s := range sections {
		if *only != "" && !strings.Contains(s.title, *only) {
			continue
		}
		slog.Info("running", "section", s.title)
		md, err := s.run(ctx)
		if err != nil {
			slog.Error("section failed", "section", s.title, "err", err)
			os.Exit(1)
		}
		fmt.Fprintf(&body, "## %s\n\n%s\n", s.title, strings.TrimSpace(md)+"\n")
	}
	if err := os.WriteFile(*out, body.Bytes(), 0o644); err != nil {
		slog.Error("write report", "err", err)
		os.Exit(1)
	}
	slog.Info("wrote", "file", *out)
}

// machine describes the host the figures come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// median returns the median of xs (xs is reordered).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
