package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// The windows section measures a windowed count in the test driver against a plain Go
// loop doing the same bucketing, counting, expiry and encoding in the same run.

const (
	windowRuns    = 3
	windowRecords = 200_000
	windowSize    = time.Second
	// windowStep is the timestamp step between records: a window holds 1,000 records
	// of the 1,024 keys, so most updates create a window and old windows expire.
	windowStep = time.Millisecond
)

func init() {
	register(section{order: 50, title: "Windows", run: runWindowsSection})
}

func runWindowsSection(ctx context.Context) (string, error) {
	var eddy, loop []time.Duration
	for range windowRuns {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		d, err := windowedCountRun(windowRecords)
		if err != nil {
			return "", fmt.Errorf("windowed count: %w", err)
		}
		eddy = append(eddy, d)
		loop = append(loop, loopWindowedCount(windowRecords))
	}
	e, l := medianRate(windowRecords, eddy), medianRate(windowRecords, loop)
	var md strings.Builder
	fmt.Fprintf(&md, "A windowed count runs in `runtime/testdriver` on the production task engine: "+
		"`GroupByKey().WindowedBy(dsl.TimeWindowsOf(1s)).Count()` over %d keys, records 1ms apart, with an "+
		"in-memory window store (logging on, caching off) and every window update written to a topic. The baseline "+
		"is a plain Go loop doing the same in the same run: bucket each record into its window, count it in a map, "+
		"drop windows past retention, encode the windowed key and count. Each figure is the median of %d runs.\n\n",
		driverKeys, windowRuns)
	md.WriteString("| workload | records | driver records/s | plain loop records/s | driver / loop |\n| --- | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&md, "| tumbling 1s windowed count | %d | %.0f | %.0f | %.3fx |\n", windowRecords, e, l, e/l)
	n := onBrokerRecords
	win, base, err := onBrokerRates(ctx, windowsOnBroker(n), n)
	if err != nil {
		return "", fmt.Errorf("windowed count on the broker: %w", err)
	}
	fmt.Fprintf(&md, "\nOn the broker: the same topology runs as an App with one stream thread against the bundled broker "+
		"in a child process (as in the application section), over %s records of the same keys and 1 ms timestamp steps in a topic of %d partitions, "+
		"produced before the clock starts. The baseline here is not the plain loop but an App running the stateless pipeline "+
		"`MapValues(strings.ToUpper).To` over the same input in the same run, so the ratio is what the windowed count costs on a broker "+
		"(its changelog and output writes included). Rates run from starting the App until a separate reader has seen every output "+
		"record (one window update per input record); each is the median of %d runs.\n\n",
		thousands(float64(n)), appPartitions, *appRuns)
	md.WriteString("| workload | records | windowed count App records/s | stateless App records/s | windowed / stateless |\n| --- | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&md, "| tumbling 1s windowed count on the broker | %d | %.0f | %.0f | %.3fx |\n", n, win, base, win/base)
	return md.String(), nil
}

func windowedCountRun(n int) (time.Duration, error) {
	b := dsl.NewBuilder()
	b.Stream("in", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupByKey().
		WindowedBy(dsl.TimeWindowsOf(windowSize)).
		Count(dsl.Materialized[string, int64]{Name: "window-counts", InMemory: true}).
		ToStream().
		To("out")
	keys := driverKeyNames()
	step := windowStep.Milliseconds()
	return driveTimed(b, []string{"in"}, n, func(ins []*testdriver.InputTopic[string, string], i int) error {
		return ins[0].PipeRecord(runtime.Record[string, string]{Key: keys[i%len(keys)], Value: "value", Timestamp: int64(i) * step})
	})
}

// loopWindowedCount buckets, counts and encodes like the windowed count, keeping the
// windows in a map and dropping those past retention (the window size) as stream time
// moves, as the window store drops its segments.
func loopWindowedCount(n int) time.Duration {
	type window struct {
		key   string
		start int64
	}
	keys := driverKeyNames()
	size, step := windowSize.Milliseconds(), windowStep.Milliseconds()
	counts := map[window]int64{}
	wkeys, i64 := serde.TimeWindowedKey(serde.String(), size), serde.Int64()
	var sink [][2][]byte
	expiredBefore := int64(0)
	start := time.Now()
	for i := range n {
		ts := int64(i) * step
		w := window{keys[i%len(keys)], ts / size * size}
		counts[w]++
		kb, _ := wkeys.Encode(serde.Windowed[string]{Key: w.key, Start: w.start, End: w.start + size})
		vb, _ := i64.Encode(counts[w])
		sink = append(sink, [2][]byte{kb, vb})
		if len(sink) == 4096 {
			sink = sink[:0]
		}
		if live := ts - size + 1; live > expiredBefore+size {
			for k := range counts {
				if k.start < live {
					delete(counts, k)
				}
			}
			expiredBefore = live
		}
	}
	return time.Since(start)
}
