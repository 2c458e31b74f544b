package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

var (
	stateRuns        = flag.Int("state-runs", 5, "runs per target of the key-value figures in the state section; the tables show medians")
	stateRestoreRuns = flag.Int("state-restore-runs", 3, "runs per target and key order of the restore figures in the state section")
	stateOpsKeys     = flag.Int("state-keys", 100_000, "keys each key-value run puts, then gets")
	stateRestoreRecs = flag.Int("state-restore-records", 400_000, "records each restore run writes")
	stateRSSKeys     = flag.Int("state-rss-keys", 5_000, "keys written to each of the 64 stores before the last RSS reading")
)

// stateChildTimeout bounds one child's measurement.
const stateChildTimeout = 2 * time.Minute

// stateRSSBudget is the memory budget for 64 open stateful tasks.
const stateRSSBudget = 512 << 20

// The targets of each measurement, the baseline first.
var (
	stateOpsTargets = []struct{ id, desc string }{
		{"raw", "raw Badger: `badger.DB` opened with the provider's options; a read-write `Txn` per commit interval (`Set` each key, `Commit`), a read `Txn` per get (`Get`, `ValueCopy`), an `Iterator` per range (`Seek`, `ValueCopy` per entry, no prefetch, as the engine reads)"},
		{"typed", "`state.KeyValueStore[string, []byte]` on the Badger provider's engine (default options), no logging, no cache; `Put` each key, `Commit` per interval, `Get`, `Range`"},
		{"typed-cache", "the same with `WithCaching(10 MiB)` (Kafka Streams' default cache size)"},
	}
	stateRestoreTargets = []struct{ id, desc string }{
		{"raw", "raw Badger with the provider's options (2 MiB memtables): a `WriteBatch` per batch (`Set` each record, `Flush`), then `Close`"},
		{"raw-32MiB", "the same with 32 MiB memtables, as the engine uses while restoring"},
		{"engine", "the Badger engine's `Restorer` (default options: 32 MiB memtables while restoring), then the `Commit` that reopens it with 2 MiB memtables"},
	}
)

func init() {
	register(section{order: 30, title: "State stores", run: runStateSection})
}

func runStateSection(ctx context.Context) (string, error) {
	if *stateRuns < 1 || *stateRestoreRuns < 1 {
		return "", fmt.Errorf("state-runs %d, state-restore-runs %d: need at least 1 each", *stateRuns, *stateRestoreRuns)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Every run is a child process of its own (this binary) on a new directory under %s, so no run inherits "+
		"another's heap, mappings or Badger goroutines; the targets take turns going first. Values are %d bytes. "+
		"Each figure is the median of several runs, with the lowest and highest run beside it: the machine is shared with other jobs, "+
		"so single runs vary.\n\n", os.TempDir(), stateValueSize)

	ops := make(map[string][]stateResult)
	for run := range *stateRuns {
		for i := range stateOpsTargets {
			t := stateOpsTargets[(run+i)%len(stateOpsTargets)]
			r, err := stateChild(ctx, stateChildSpec{Kind: stateOps, Target: t.id, Keys: *stateOpsKeys})
			if err != nil {
				return "", fmt.Errorf("key-value %s, run %d: %w", t.id, run+1, err)
			}
			slog.Info("state run", "target", t.id, "run", run+1, "put/s", int(r.Put), "get/s", int(r.Get), "range/s", int(r.Range))
			ops[t.id] = append(ops[t.id], r)
		}
	}
	writeStateOps(&md, ops)

	writeStateRestoreIntro(&md)
	for _, shuffled := range []bool{false, true} {
		restore := make(map[string][]stateResult)
		for run := range *stateRestoreRuns {
			for i := range stateRestoreTargets {
				t := stateRestoreTargets[(run+i)%len(stateRestoreTargets)]
				r, err := stateChild(ctx, stateChildSpec{Kind: stateRestore, Target: t.id, Keys: *stateRestoreRecs, Shuffled: shuffled})
				if err != nil {
					return "", fmt.Errorf("restore %s (shuffled %t), run %d: %w", t.id, shuffled, run+1, err)
				}
				slog.Info("state run", "target", t.id, "shuffled", shuffled, "run", run+1, "records/s", int(r.Restore))
				restore[t.id] = append(restore[t.id], r)
			}
		}
		writeStateRestore(&md, restore, shuffled)
	}

	rss, err := stateChild(ctx, stateChildSpec{Kind: stateRSS, Keys: *stateRSSKeys})
	if err != nil {
		return "", fmt.Errorf("rss: %w", err)
	}
	writeStateRSS(&md, rss.RSS)
	return md.String(), nil
}

// stateChild runs one measurement in a child process on a fresh directory.
func stateChild(ctx context.Context, spec stateChildSpec) (stateResult, error) {
	ctx, cancel := context.WithTimeout(ctx, stateChildTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "eddy-bench-state-")
	if err != nil {
		return stateResult{}, err
	}
	defer os.RemoveAll(dir)
	spec.Dir = dir
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return stateResult{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return stateResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), stateChildEnv+"="+string(specJSON))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	out, runErr := cmd.Output()
	var res stateResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if msg, ok := strings.CutPrefix(line, "err "); ok {
			return res, errors.New(msg)
		}
		if body, ok := strings.CutPrefix(line, "result "); ok {
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				return res, fmt.Errorf("child result: %w", err)
			}
			return res, runErr
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("child: %w", runErr)
	}
	return res, errors.New("child printed no result")
}

// spread is the median, lowest and highest of one figure over the runs.
type spread struct{ med, lo, hi float64 }

func spreadOf(rs []stateResult, f func(stateResult) float64) spread {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	m := median(xs) // sorts xs
	return spread{m, xs[0], xs[len(xs)-1]}
}

func (s spread) String() string {
	return fmt.Sprintf("%s (%s–%s)", thousands(s.med), thousands(s.lo), thousands(s.hi))
}

func writeStateOps(md *strings.Builder, ops map[string][]stateResult) {
	fmt.Fprintf(md, "### Key-value operations\n\n"+
		"Each run puts %s string keys (`key-%%08d`) in a shuffled order, committing every %s puts, then gets each key once in another "+
		"order, then reads %s ranges of %d consecutive keys from random starting keys. A put figure includes the commits (one synced "+
		"Badger write each); a range counts as one operation.\n\n",
		thousands(float64(*stateOpsKeys)), thousands(stateCommitEvery), thousands(stateRanges), stateRangeLen)
	md.WriteString("| target | what it does |\n| --- | --- |\n")
	for _, t := range stateOpsTargets {
		fmt.Fprintf(md, "| %s | %s |\n", t.id, t.desc)
	}
	type fig struct {
		name string
		f    func(stateResult) float64
	}
	figs := []fig{
		{"put", func(r stateResult) float64 { return r.Put }},
		{"get", func(r stateResult) float64 { return r.Get }},
		{"range", func(r stateResult) float64 { return r.Range }},
	}
	md.WriteString("\n| target | puts/s | gets/s | ranges/s (100 keys) | put / raw | get / raw | range / raw |\n")
	md.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	raw := stateOpsTargets[0].id
	var verdicts []string
	for _, t := range stateOpsTargets {
		var cells, ratios []string
		for _, f := range figs {
			s := spreadOf(ops[t.id], f.f)
			cells = append(cells, s.String())
			ratio := s.med / spreadOf(ops[raw], f.f).med
			if t.id == raw {
				ratios = append(ratios, "1.00x")
				continue
			}
			ratios = append(ratios, fmt.Sprintf("**%.2fx**", ratio))
			verdict := "meets"
			if ratio < 0.80 {
				verdict = "misses"
			}
			verdicts = append(verdicts, fmt.Sprintf("%s %s %s (%.2fx)", t.id, f.name, verdict, ratio))
		}
		fmt.Fprintf(md, "| %s | %s | %s |\n", t.id, strings.Join(cells, " | "), strings.Join(ratios, " | "))
	}
	fmt.Fprintf(md, "\nGoal: the typed stores at least 0.80x raw Badger, medians against medians. %s.\n\n", strings.Join(verdicts, "; "))
}

func writeStateRestoreIntro(md *strings.Builder) {
	fmt.Fprintf(md, "### Bulk restore\n\n"+
		"Each run restores %s records with distinct keys in batches of %s, %d runs per target, once with the keys in key order "+
		"(a changelog whose keys grow, such as time-ordered windows) and once shuffled (a changelog of a table updated at random). "+
		"Every batch is durable when its call returns (SyncWrites on for every target); the engine also writes its commit marker per batch. "+
		"The time runs from the first batch until the data is out of the memtables and no compaction is running (raw: `Close`; engine: the `Commit` "+
		"that leaves restore mode, which closes and reopens its Badger instance).\n\n",
		thousands(float64(*stateRestoreRecs)), thousands(stateRestoreBatch), *stateRestoreRuns)
	md.WriteString("| target | what it does |\n| --- | --- |\n")
	for _, t := range stateRestoreTargets {
		fmt.Fprintf(md, "| %s | %s |\n", t.id, t.desc)
	}
	md.WriteString("\n")
}

func writeStateRestore(md *strings.Builder, restore map[string][]stateResult, shuffled bool) {
	order := "key order"
	if shuffled {
		order = "shuffled keys"
	}
	get := func(r stateResult) float64 { return r.Restore }
	med := func(id string) float64 { return spreadOf(restore[id], get).med }
	fmt.Fprintf(md, "#### %s\n\n| target | records/s | MB/s of values |\n| --- | ---: | ---: |\n", order)
	for _, t := range stateRestoreTargets {
		s := spreadOf(restore[t.id], get)
		fmt.Fprintf(md, "| %s | %s | %.1f |\n", t.id, s, s.med*stateValueSize/1e6)
	}
	eng := med("engine")
	verdict := "met"
	if eng < 500_000 {
		verdict = "not met"
	}
	fmt.Fprintf(md, "\nRatios: engine / raw **%.2fx**, engine / raw-32MiB **%.2fx** (the same memtables). "+
		"Goal, 500,000 records/s through the engine's Restorer: %s (median %s records/s).\n\n",
		eng/med("raw"), eng/med("raw-32MiB"), verdict, thousands(eng))
}

func writeStateRSS(md *strings.Builder, stages []rssStage) {
	fmt.Fprintf(md, "### Resident memory of %d stores\n\n"+
		"One child process opens %d Badger stores through the provider (default options) and writes %s keys of %d-byte values "+
		"into each through a `KeyValueStore`, committing every %s puts. Each reading is `/proc/self/status` after a GC that returns "+
		"freed heap to the system; RssFile is mostly Badger's mmap of its table files, which the kernel can reclaim. "+
		"The first row, the same process before any store, is the baseline. One run: memory varies far less than throughput.\n\n",
		stateRSSStores, stateRSSStores, thousands(float64(*stateRSSKeys)), stateValueSize, thousands(stateCommitEvery))
	md.WriteString("| stage | VmRSS MiB | RssAnon MiB | RssFile MiB | goroutines |\n| --- | ---: | ---: | ---: | ---: |\n")
	mib := func(kb int64) string { return fmt.Sprintf("%.0f", float64(kb)/1024) }
	var peak int64
	for _, s := range stages {
		fmt.Fprintf(md, "| %s | %s | %s | %s | %d |\n", s.Stage, mib(s.VmRSS), mib(s.RssAnon), mib(s.RssFile), s.Goroutines)
		peak = max(peak, s.VmRSS<<10)
	}
	verdict := "met"
	if peak > stateRSSBudget {
		verdict = "not met"
	}
	fmt.Fprintf(md, "\nGoal: %d stateful tasks within %d MiB of VmRSS: %s at this size (peak %.0f MiB). "+
		"The package doc of `state` has the same measurement at larger sizes.\n", stateRSSStores, stateRSSBudget>>20, verdict, float64(peak)/(1<<20))
}
