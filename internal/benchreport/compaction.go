package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

var compactionRuns = flag.Int("compaction-runs", 5, "runs of each compaction benchmark; the table shows medians")

func init() {
	register(section{order: 27, title: "Compaction", run: runCompactionSection})
}

// runCompactionSection runs the storage package's compaction benchmarks with go test:
// the cleaner is internal to the broker, so only that package's own benchmark can time
// one pass. The baseline copies the same segment files and fsyncs them.
func runCompactionSection(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$",
		"-bench", "^(BenchmarkCompaction|BenchmarkCompactionCopyBaseline)$",
		"-benchtime", "3x", "-count", strconv.Itoa(*compactionRuns), "./broker/internal/storage/")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	rates, err := parseBenchMetric(out, "MB/s")
	if err != nil {
		return "", err
	}
	clean, copyBase := median(rates["BenchmarkCompaction"]), median(rates["BenchmarkCompactionCopyBaseline"])
	if clean == 0 || copyBase == 0 {
		return "", fmt.Errorf("compaction benchmarks reported nothing:\n%s", out)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "One cleaner pass over a 12 MB log (1 MiB segments, 100 B values, 5,000 keys each written 20 times, "+
		"so 95%% of the records go), timed by `BenchmarkCompaction` in broker/internal/storage; the baseline copies the "+
		"same segment files and fsyncs them, the disk work of a pass that removed nothing. Medians of %d runs; MB are log bytes before the pass.\n\n", *compactionRuns)
	md.WriteString("| | MB/s |\n| --- | ---: |\n")
	fmt.Fprintf(&md, "| compaction pass | %.0f |\n| copy + fsync baseline | %.0f |\n| **compaction / copy** | **%.2fx** |\n", clean, copyBase, clean/copyBase)
	return md.String(), nil
}

// parseBenchMetric collects, per benchmark name (without the -N suffix), the values of
// the metric unit from go test -bench output.
func parseBenchMetric(out []byte, unit string) (map[string][]float64, error) {
	res := map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "-")
		for i := 2; i+1 < len(f); i++ {
			if f[i+1] != unit {
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			res[name] = append(res[name], v)
		}
	}
	return res, sc.Err()
}
