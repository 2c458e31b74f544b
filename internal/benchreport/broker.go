package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

var (
	brokerRuns = flag.Int("broker-runs", 5, "runs per broker and value size in the broker section; the table shows medians")
	// Each profile covers only the broker's process; go tool pprof merges several given
	// together.
	brokerCPUProfile = flag.String("broker-cpuprofile", "", "if set, write a CPU profile of the broker during every broker-section phase to PREFIX-<broker>-<size>B-<phase>-r<run>.pprof")
)

// brokerWorkloads are measured in this order; each run of one should take a few seconds.
var brokerWorkloads = []brokerWorkload{
	{valueSize: 1024, records: 200_000, partitions: 8},
	{valueSize: 100, records: 1_000_000, partitions: 8},
}

// brokerRunTimeout bounds one broker's produce and consume of one workload.
const brokerRunTimeout = 2 * time.Minute

func init() {
	register(section{order: 20, title: "Broker throughput", run: runBrokerSection})
}

// brokerSample is one run's produce and consume durations, and the broker's CPU time
// during each.
type brokerSample struct{ produce, consume, produceCPU, consumeCPU time.Duration }

func runBrokerSection(ctx context.Context) (string, error) {
	if *brokerRuns < 1 {
		return "", fmt.Errorf("broker-runs %d: need at least 1", *brokerRuns)
	}
	var md strings.Builder
	writeBrokerIntro(&md, brokerTargets(brokerWorkloads[0]))
	for _, w := range brokerWorkloads {
		targets := brokerTargets(w)
		samples := make(map[string][]brokerSample, len(targets))
		for run := range *brokerRuns {
			// Rotate which broker goes first so drift on the machine hits each alike.
			for i := range targets {
				t := targets[(run+i)%len(targets)]
				s, err := brokerRun(ctx, t, w, run)
				if err != nil {
					return "", fmt.Errorf("%s, %d B values, run %d: %w", t.id, w.valueSize, run+1, err)
				}
				slog.Info("broker run", "broker", t.id, "value_bytes", w.valueSize, "run", run+1,
					"produce", s.produce.Round(time.Millisecond), "produce_cpu", s.produceCPU.Round(time.Millisecond),
					"consume", s.consume.Round(time.Millisecond), "consume_cpu", s.consumeCPU.Round(time.Millisecond))
				samples[t.id] = append(samples[t.id], s)
			}
		}
		writeBrokerTable(&md, targets, w, samples)
	}
	return md.String(), nil
}

// brokerRun starts t in a child process on a fresh data directory, creates the topic,
// produces w, then consumes it with a new client.
func brokerRun(ctx context.Context, t brokerTarget, w brokerWorkload, run int) (s brokerSample, err error) {
	ctx, cancel := context.WithTimeout(ctx, brokerRunTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "eddy-bench-"+t.id+"-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	// Garbage from the previous run must not be collected on this one's time.
	runtime.GC()

	child, err := startBrokerChild(ctx, t, w, dir)
	if err != nil {
		return s, err
	}
	defer func() {
		if cerr := child.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	const topic = "bench"
	if err := createBenchTopic(ctx, child.addr, topic, w); err != nil {
		return s, err
	}
	phase := func(name string, f func() (time.Duration, error)) (wall, cpu time.Duration, err error) {
		if *brokerCPUProfile != "" {
			path := fmt.Sprintf("%s-%s-%dB-%s-r%d.pprof", *brokerCPUProfile, t.id, w.valueSize, name, run+1)
			if _, err := child.call("profile " + path); err != nil {
				return 0, 0, err
			}
			defer func() {
				if _, perr := child.call("unprofile"); perr != nil && err == nil {
					err = perr
				}
			}()
		}
		cpu0, err := child.cpu()
		if err != nil {
			return 0, 0, err
		}
		if wall, err = f(); err != nil {
			return 0, 0, err
		}
		cpu1, err := child.cpu()
		return wall, cpu1 - cpu0, err
	}
	if s.produce, s.produceCPU, err = phase("produce", func() (time.Duration, error) { return produceAll(ctx, child.addr, topic, w) }); err != nil {
		return s, err
	}
	if s.consume, s.consumeCPU, err = phase("consume", func() (time.Duration, error) { return consumeAll(ctx, child.addr, topic, w, !t.ceiling) }); err != nil {
		return s, err
	}
	return s, nil
}

func writeBrokerIntro(md *strings.Builder, targets []brokerTarget) {
	fmt.Fprintf(md, "A franz-go client (%s) produces a fixed number of records to one topic of %d partitions with acks=all, "+
		"no compression and otherwise default settings, then a fresh client reads them all back from the start. "+
		"The baseline is franz-go's fake broker, %s, persisting to a data directory. "+
		"Each broker runs in a child process of its own on a new data directory under %s for every run; the client runs in the report's process, "+
		"and the two share the machine's cores. Produce time runs from the first record handed to the client to the last acknowledgement; "+
		"consume time from subscribing to the last record seen; connecting is excluded from both. "+
		"Broker CPU is the child's user plus system time during the phase. "+
		"MB counts record value bytes, 10^6 to the MB. Each figure is the median of %d runs; the brokers take turns going first.\n\n",
		moduleVersion("github.com/twmb/franz-go"), brokerWorkloads[0].partitions,
		moduleVersion("github.com/twmb/franz-go/pkg/kfake"), os.TempDir(), *brokerRuns)
	md.WriteString("| broker | durability |\n| --- | --- |\n")
	for _, t := range targets {
		fmt.Fprintf(md, "| %s | %s |\n", t.id, t.durability)
	}
	md.WriteString("\n")
}

// writeBrokerTable writes one workload's medians, the ratios of our broker, the first
// target, to each other broker, and how close each broker comes to the client's ceiling.
func writeBrokerTable(md *strings.Builder, targets []brokerTarget, w brokerWorkload, samples map[string][]brokerSample) {
	// Rates per second of wall time and of broker CPU time, in records.
	type row struct{ produce, produceCPU, consume, consumeCPU float64 }
	rows := make(map[string]row, len(targets))
	for _, t := range targets {
		var p, pc, c, cc []float64
		for _, s := range samples[t.id] {
			n := float64(w.records)
			p, pc = append(p, n/s.produce.Seconds()), append(pc, n/s.produceCPU.Seconds())
			c, cc = append(c, n/s.consume.Seconds()), append(cc, n/s.consumeCPU.Seconds())
		}
		rows[t.id] = row{median(p), median(pc), median(c), median(cc)}
	}
	mb := func(recPerSec float64) float64 { return recPerSec * float64(w.valueSize) / 1e6 }

	fmt.Fprintf(md, "### %d B values: %s records (%.1f MB)\n\n", w.valueSize, thousands(float64(w.records)), float64(w.bytes())/1e6)
	md.WriteString("| broker | produce MB/s | produce rec/s | produce MB per broker CPU-s | consume MB/s | consume rec/s | consume MB per broker CPU-s |\n")
	md.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, t := range targets {
		r := rows[t.id]
		fmt.Fprintf(md, "| %s | %.1f | %s | %.0f | %.1f | %s | %.0f |\n", t.id,
			mb(r.produce), thousands(r.produce), mb(r.produceCPU), mb(r.consume), thousands(r.consume), mb(r.consumeCPU))
	}
	ours := rows[targets[0].id]
	var ceiling *row
	for _, t := range targets[1:] {
		r := rows[t.id]
		if t.ceiling {
			ceiling = &r
			continue
		}
		p, pc, c, cc := ours.produce/r.produce, ours.produceCPU/r.produceCPU, ours.consume/r.consume, ours.consumeCPU/r.consumeCPU
		fmt.Fprintf(md, "| **%s / %s** | **%.2fx** | **%.2fx** | **%.2fx** | **%.2fx** | **%.2fx** | **%.2fx** |\n",
			targets[0].id, t.id, p, p, pc, c, c, cc)
	}

	base := rows[targets[1].id]
	p, c := ours.produce/base.produce, ours.consume/base.consume
	fmt.Fprintf(md, "\nGoal: at least 2x %s both ways. Throughput: produce %s (%.2fx), consume %s (%.2fx). ",
		targets[1].id, metOrNot(p), p, metOrNot(c), c)
	p, c = ours.produceCPU/base.produceCPU, ours.consumeCPU/base.consumeCPU
	fmt.Fprintf(md, "Bytes per broker CPU-second: produce %s (%.2fx), consume %s (%.2fx).",
		metOrNot(p), p, metOrNot(c), c)
	if ceiling != nil {
		fmt.Fprintf(md, " Against the client's ceiling, %s reaches %.0f%% of its throughput producing and %.0f%% consuming, %s %.0f%% and %.0f%%",
			targets[0].id, 100*ours.produce/ceiling.produce, 100*ours.consume/ceiling.consume,
			targets[1].id, 100*base.produce/ceiling.produce, 100*base.consume/ceiling.consume)
		fmt.Fprintf(md, "; twice %s's throughput would be %.0f%% and %.0f%% of it.", targets[1].id,
			200*base.produce/ceiling.produce, 200*base.consume/ceiling.consume)
	}
	md.WriteString("\n\n")
}

func metOrNot(ratio float64) string {
	if ratio >= 2 {
		return "meets it"
	}
	return "falls short"
}

// thousands formats x rounded to an integer with comma separators.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// moduleVersion returns the version of a dependency built into this binary.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return path + " " + m.Version
			}
		}
	}
	return path
}
