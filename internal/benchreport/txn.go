package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var txnRuns = flag.Int("txn-runs", 5, "runs per broker and mode in the transactions section; the table shows medians")

// txnWorkload is what the transactions section produces: the broker section's 1 KiB
// workload, smaller, committed every txnRecords records (about what a stream thread
// writes in its 100 ms commit interval under load).
var txnWorkload = brokerWorkload{valueSize: 1024, records: 100_000, partitions: 8}

const txnRecords = 5_000

func init() {
	register(section{order: 25, title: "Transactions", run: runTxnSection})
}

// txnTargets are the brokers measured: ours and kfake as DataDir leaves it, both of which
// serve transactions.
func txnTargets() []brokerTarget {
	var out []brokerTarget
	for _, t := range brokerTargets(txnWorkload) {
		if t.id == "eddy" || t.id == "kfake" {
			out = append(out, t)
		}
	}
	return out
}

func runTxnSection(ctx context.Context) (string, error) {
	if *txnRuns < 1 {
		return "", fmt.Errorf("txn-runs %d: need at least 1", *txnRuns)
	}
	targets := txnTargets()
	plain := map[string][]float64{}
	txn := map[string][]float64{}
	for run := range *txnRuns {
		for i := range targets {
			t := targets[(run+i)%len(targets)]
			for _, transactional := range []bool{run%2 == 0, run%2 != 0} {
				d, err := txnRun(ctx, t, transactional)
				if err != nil {
					return "", fmt.Errorf("%s, transactional=%v, run %d: %w", t.id, transactional, run+1, err)
				}
				rate := float64(txnWorkload.records) / d.Seconds()
				slog.Info("txn run", "broker", t.id, "transactional", transactional, "run", run+1, "rec_per_s", int(rate))
				if transactional {
					txn[t.id] = append(txn[t.id], rate)
				} else {
					plain[t.id] = append(plain[t.id], rate)
				}
			}
		}
	}
	var md strings.Builder
	w := txnWorkload
	fmt.Fprintf(&md, "%s records of %d B over %d partitions, acks=all, no compression, produced by one franz-go client; "+
		"plain is an idempotent producer, transactional commits every %s records (BeginTransaction, produce, Flush, EndTransaction commit). "+
		"Every run starts the broker afresh in a child process; medians of %d runs.\n\n",
		thousands(float64(w.records)), w.valueSize, w.partitions, thousands(txnRecords), *txnRuns)
	md.WriteString("| broker | plain rec/s | plain MB/s | transactional rec/s | transactional MB/s | transactional / plain |\n")
	md.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	mb := func(r float64) float64 { return r * float64(w.valueSize) / 1e6 }
	for _, t := range targets {
		p, x := median(plain[t.id]), median(txn[t.id])
		fmt.Fprintf(&md, "| %s | %s | %.1f | %s | %.1f | **%.2fx** |\n", t.id, thousands(p), mb(p), thousands(x), mb(x), x/p)
	}
	md.WriteString("\nThe transactional cost is the commit round trips (AddPartitionsToTxn, EndTxn with its markers " +
		"written and, on eddy, fsynced in every partition) between batches of records.\n")
	return md.String(), nil
}

// txnRun starts t afresh and produces the workload plainly or in transactions, returning
// how long the produce took.
func txnRun(ctx context.Context, t brokerTarget, transactional bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, brokerRunTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "eddy-bench-txn-"+t.id+"-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	runtime.GC()
	child, err := startBrokerChild(ctx, t, txnWorkload, dir)
	if err != nil {
		return 0, err
	}
	defer child.close()
	const topic = "bench-txn"
	if err := createBenchTopic(ctx, child.addr, topic, txnWorkload); err != nil {
		return 0, err
	}
	if !transactional {
		return produceAll(ctx, child.addr, topic, txnWorkload)
	}
	return produceTransactions(ctx, child.addr, topic, txnWorkload)
}

// produceTransactions writes w's records as produceAll does, in transactions of
// txnRecords records each.
func produceTransactions(ctx context.Context, addr, topic string, w brokerWorkload) (time.Duration, error) {
	cl, value, err := benchProducer(ctx, addr, w, kgo.TransactionalID("bench-txn"))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var first firstError
	start := time.Now()
	for i := 0; i < w.records; i += txnRecords {
		if err := cl.BeginTransaction(); err != nil {
			return 0, fmt.Errorf("begin: %w", err)
		}
		for j := i; j < min(i+txnRecords, w.records); j++ {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(j) % w.partitions, Value: value}, first.record)
		}
		if err := cl.Flush(ctx); err != nil {
			return 0, fmt.Errorf("flush: %w", err)
		}
		if err := first.get(); err != nil {
			return 0, fmt.Errorf("produce: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, fmt.Errorf("commit: %w", err)
		}
	}
	return time.Since(start), nil
}
