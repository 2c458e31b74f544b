package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/eddy-io/eddy/dsl"
	eddyrt "github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

var eosRuns = flag.Int("eos-runs", 3, "runs per processing guarantee in the exactly-once section; the tables show medians")

// The section's sizes; variables so that tests can run it small.
var (
	// eosRecords is the throughput input, produced before the clock starts.
	eosRecords = 1_000_000
	// eosRate and eosDuration pace the latency input: a moderate load, well below
	// what either guarantee sustains, so the figures are latencies, not queueing.
	eosRate     = 5_000
	eosDuration = 10 * time.Second
)

// The job: a running sum per account over eosKeys accounts, computed by eosThreads
// stream threads.
const (
	eosKeys    = 10_000
	eosThreads = 2
	eosInput   = "eos-sums-in"
)

// eosGuarantee is one side of the comparison.
type eosGuarantee struct {
	id string
	g  eddyrt.ProcessingGuarantee
}

var eosGuarantees = []eosGuarantee{
	{id: "at-least-once", g: eddyrt.AtLeastOnce},
	{id: "exactly-once", g: eddyrt.ExactlyOnce},
}

// commitInterval is the runtime's default commit interval of the guarantee, which
// the runs leave in place.
func (e eosGuarantee) commitInterval() time.Duration {
	if e.g == eddyrt.ExactlyOnce {
		return eddyrt.DefaultExactlyOnceCommitInterval
	}
	return eddyrt.DefaultCommitInterval
}

func init() {
	register(section{order: 32, title: "Exactly-once", run: runEOSSection})
}

// eosRecord is input record i: an amount from 1 to 100 for account i mod eosKeys.
func eosRecord(i int) (key, value []byte) {
	return fmt.Appendf(nil, "acct-%05d", i%eosKeys), binary.BigEndian.AppendUint64(nil, uint64(eosAmount(i)))
}

func eosAmount(i int) int64 { return int64(i%100 + 1) }

// eosSums is the final sum of every account after input records 0 to n-1, computed
// apart from the job.
func eosSums(n int) map[string]int64 {
	sums := make(map[string]int64, min(n, eosKeys))
	for i := range n {
		sums[fmt.Sprintf("acct-%05d", i%eosKeys)] += eosAmount(i)
	}
	return sums
}

// eosTopology is the job reading input: per-account running sums in a Badger store logged to a
// changelog, every updated sum written to out. An aggregate's output carries the
// larger of its input's and its previous output's timestamps, so with input
// timestamps that grow per account, each output record carries its input's.
func eosTopology(input, out string) (*eddyrt.Topology, error) {
	b := dsl.NewBuilder()
	b.Stream(input, dsl.Consumed[string, int64]{Keys: serde.String(), Values: serde.Int64()}).
		GroupByKey().
		Reduce(func(sum, v int64) int64 { return sum + v }, dsl.Materialized[string, int64]{Name: "sums"}).
		ToStream().
		To(out)
	return b.Build()
}

// eosLaunch returns the launch of the job reading input and writing out under
// guarantee g with its default commit interval.
func eosLaunch(env appEnv, g eosGuarantee, appID, input, out string) (launchFunc, error) {
	top, err := eosTopology(input, out)
	if err != nil {
		return nil, err
	}
	dir, err := env.stateDir(appID)
	if err != nil {
		return nil, err
	}
	cfg := eddyConfig(env, appID, dir, eosThreads)
	cfg.ProcessingGuarantee = g.g
	cfg.CommitInterval = 0 // the guarantee's default
	return launchEddy(top, cfg), nil
}

func runEOSSection(ctx context.Context) (md string, err error) {
	if *eosRuns < 1 {
		return "", fmt.Errorf("eos-runs %d: need at least 1", *eosRuns)
	}
	env, closeEnv, err := startAppEnv(ctx, "eddy-bench-eos-")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := closeEnv(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := createAppTopics(ctx, env.addr, eosInput); err != nil {
		return "", err
	}
	if err := produceInput(ctx, env.addr, eosInput, eosRecords, eosRecord); err != nil {
		return "", err
	}

	tput := map[string][]time.Duration{}
	first := map[string][]time.Duration{}
	p50 := map[string][]float64{}
	p99 := map[string][]float64{}
	rates := map[string][]float64{}
	for run := range *eosRuns {
		err := eosInTurn(run, func(g eosGuarantee) error {
			t, err := eosThroughputRun(ctx, env, g, run)
			if err != nil {
				return fmt.Errorf("throughput: %w", err)
			}
			slog.Info("eos run", "phase", "throughput", "guarantee", g.id, "run", run+1,
				"first_output", t.first.Round(time.Millisecond), "took", t.all.Round(time.Millisecond))
			tput[g.id], first[g.id] = append(tput[g.id], t.all), append(first[g.id], t.first)
			return nil
		})
		if err == nil {
			err = eosInTurn(run, func(g eosGuarantee) error {
				l, err := eosLatencyRun(ctx, env, g, run)
				if err != nil {
					return fmt.Errorf("latency: %w", err)
				}
				slog.Info("eos run", "phase", "latency", "guarantee", g.id, "run", run+1,
					"input_rate", int(l.rate), "p50", l.p50, "p99", l.p99, "max", l.max)
				p50[g.id], p99[g.id] = append(p50[g.id], ms(l.p50)), append(p99[g.id], ms(l.p99))
				rates[g.id] = append(rates[g.id], l.rate)
				return nil
			})
		}
		if err != nil {
			return "", err
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The job keeps a running sum per account (`GroupByKey().Reduce(sum)`, %s accounts, amounts as 8-byte integers) "+
		"in a Badger store logged to a changelog, with no record cache, and writes every updated sum to an output topic; input and output "+
		"have %d partitions. eddy runs it with %d stream threads in the report's process, under **at-least-once** and under **exactly-once** "+
		"(one transactional producer per thread, read_committed input, output, changelog and input offsets committed in one transaction per "+
		"commit interval), each with the runtime's default commit interval, as Kafka Streams: %s for at-least-once, %s for exactly-once. "+
		"The bundled broker runs in a child process with its defaults (fsync before acknowledging, transaction markers included), "+
		"group initial rebalance delay off. A separate read_committed reader checks the output: one record per input record and every "+
		"account's last sum equal to the sum computed apart, or the run fails. Each figure is the median of %d runs; the guarantees take turns going first.\n\n",
		thousands(eosKeys), appPartitions, eosThreads, eosGuarantees[0].commitInterval(), eosGuarantees[1].commitInterval(), *eosRuns)

	fmt.Fprintf(&b, "### Throughput\n\n%s input records, produced before the clock starts; times run from starting the application "+
		"(group join included) until the reader has seen the first and all %s output records.\n\n",
		thousands(float64(eosRecords)), thousands(float64(eosRecords)))
	b.WriteString("| guarantee | commit interval | first output (s) | all output (s) | records/s |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, g := range eosGuarantees {
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %s |\n", g.id, g.commitInterval(),
			medianDuration(first[g.id]).Seconds(), medianDuration(tput[g.id]).Seconds(), thousands(medianRate(eosRecords, tput[g.id])))
	}
	ratio := medianRate(eosRecords, tput["exactly-once"]) / medianRate(eosRecords, tput["at-least-once"])
	fmt.Fprintf(&b, "| **exactly-once / at-least-once** | | | | **%.2fx** |\n\n", ratio)
	fmt.Fprintf(&b, "Goal: exactly-once at least 0.85x at-least-once's records/s. eddy %s (%.2fx). "+
		"The ratio compares the guarantees as shipped: exactly-once commits %d times as often as at-least-once, "+
		"which within one run commits only when it closes.\n\n",
		goalVerdict(ratio, 0.85), ratio, int(eosGuarantees[0].commitInterval()/eosGuarantees[1].commitInterval()))

	fmt.Fprintf(&b, "### End-to-end latency\n\nOnce the application is running (a first record per warm-up account has come through), "+
		"a producer writes %s records/s for %s, each stamped with the time it is handed to the producer (acks=all, no linger); "+
		"the output records carry their input's timestamp, and the read_committed reader takes the latency of each as the time its fetch "+
		"returned less that timestamp (millisecond timestamps).\n\n", thousands(float64(eosRate)), eosDuration)
	b.WriteString("| guarantee | commit interval | input records/s | p50 (ms) | p99 (ms) |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, g := range eosGuarantees {
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.1f |\n", g.id, g.commitInterval(),
			thousands(median(rates[g.id])), median(p50[g.id]), median(p99[g.id]))
	}
	b.WriteString("\nNo goal is set for latency. Under exactly-once a record is visible to read_committed readers only once the " +
		"transaction that wrote it commits, so its latency is at least the wait for the end of the commit interval plus the commit.\n")
	return b.String(), nil
}

// eosInTurn calls f for each guarantee, the one going first rotating with run.
func eosInTurn(run int, f func(g eosGuarantee) error) error {
	for i := range eosGuarantees {
		g := eosGuarantees[(run+i)%len(eosGuarantees)]
		// Garbage from the previous run must not be collected on this one's time.
		runtime.GC()
		if err := f(g); err != nil {
			return fmt.Errorf("%s, run %d: %w", g.id, run+1, err)
		}
	}
	return nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
