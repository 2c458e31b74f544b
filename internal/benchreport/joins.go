package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// The joins section measures a stream-stream join in the test driver against a plain Go
// loop doing the same matching in the same run, so the ratio is what the join's window
// stores, outer-join bookkeeping and task engine cost per record.

const (
	joinRuns    = 3
	joinRecords = 200_000 // records per run, half on each side
	joinWindow  = 100 * time.Millisecond
)

func init() {
	register(section{order: 55, title: "Joins", run: runJoinSection})
}

func runJoinSection(ctx context.Context) (string, error) {
	workloads := []struct {
		name string
		eddy func(n int) (time.Duration, error)
	}{
		{"inner join", func(n int) (time.Duration, error) { return driverJoinRun(n, false) }},
		{"left join", func(n int) (time.Duration, error) { return driverJoinRun(n, true) }},
	}
	var md strings.Builder
	fmt.Fprintf(&md, "A stream-stream join built with the DSL runs in `runtime/testdriver` (in-memory window "+
		"stores, logging on, records piped one at a time and committed after each). Records alternate "+
		"between the two inputs over %d keys, 1 ms apart, and each right record has one left record "+
		"of its key within the %v window, so every pair joins once. The baseline is a plain Go loop "+
		"decoding the same records, keeping each side's recent records per key in maps, matching "+
		"within the window and encoding the results. Each figure is the median of %d runs.\n\n",
		driverKeys, joinWindow, joinRuns)
	md.WriteString("| workload | records | driver records/s | plain loop records/s | driver / loop |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, w := range workloads {
		var eddy, loop []float64
		for range joinRuns {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			d, err := w.eddy(joinRecords)
			if err != nil {
				return "", fmt.Errorf("%s: %w", w.name, err)
			}
			eddy = append(eddy, float64(joinRecords)/d.Seconds())
			loop = append(loop, float64(joinRecords)/loopJoin(joinRecords).Seconds())
		}
		e, l := median(eddy), median(loop)
		fmt.Fprintf(&md, "| %s | %d | %.0f | %.0f | %.3fx |\n", w.name, joinRecords, e, l, e/l)
	}
	n := onBrokerRecords
	join, base, err := onBrokerRates(ctx, joinsOnBroker(n), n)
	if err != nil {
		return "", fmt.Errorf("inner join on the broker: %w", err)
	}
	fmt.Fprintf(&md, "\nOn the broker: the inner join runs as an App with one stream thread against the bundled broker "+
		"in a child process (as in the application section), over %s records of the same keys and timestamps, alternating "+
		"between two co-partitioned topics of %d partitions and produced before the clock starts. The join windows "+
		"have no grace, as in the driver row. The baseline here is not the "+
		"plain loop but an App running the stateless pipeline `Merge` of the two inputs, `MapValues(strings.ToUpper).To` over the same input "+
		"in the same run, so the ratio is what the join costs on a broker (its two changelogs and output writes included). "+
		"Rates are input records/s from starting the App until a separate reader has seen every output record (%s joined "+
		"records; the stateless App writes one per input); each is the median of %d runs.\n\n",
		thousands(float64(n)), appPartitions, thousands(float64(n/2)), *appRuns)
	md.WriteString("| workload | records | join App records/s | stateless App records/s | join / stateless |\n| --- | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&md, "| inner join on the broker | %d | %.0f | %.0f | %.3fx |\n", n, join, base, join/base)
	return md.String(), nil
}

// joinInput returns record i of the workload: its side, key and timestamp.
func joinInput(keys []string, i int) (left bool, key string, ts int64) {
	return i%2 == 0, keys[(i/2)%len(keys)], int64(i)
}

func driverJoinRun(n int, left bool) (time.Duration, error) {
	b := dsl.NewBuilder()
	strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
	l, r := b.Stream("left", strs), b.Stream("right", strs)
	opts := dsl.StreamJoined[string, string, string]{InMemory: true}
	w := dsl.JoinWindowsOf(joinWindow)
	if left {
		l.LeftJoin(r, func(a string, b *string) string {
			if b == nil {
				return a
			}
			return a + *b
		}, w, opts).To("out")
	} else {
		l.Join(r, func(a, b string) string { return a + b }, w, opts).To("out")
	}
	keys := driverKeyNames()
	return driveTimed(b, []string{"left", "right"}, n, func(ins []*testdriver.InputTopic[string, string], i int) error {
		isLeft, k, ts := joinInput(keys, i)
		in := ins[1]
		if isLeft {
			in = ins[0]
		}
		return in.PipeInputAt(k, "value", time.UnixMilli(ts))
	})
}

// loopJoin matches the same records with maps of recent records per key and side.
func loopJoin(n int) time.Duration {
	keys := driverKeyNames()
	type rec struct {
		ts    int64
		value string
	}
	sides := [2]map[string][]rec{{}, {}}
	window := joinWindow.Milliseconds()
	raw := []byte("value")
	var sink [][2][]byte
	start := time.Now()
	for i := range n {
		isLeft, k, ts := joinInput(keys, i)
		kb := []byte(k)
		key, value := string(kb), string(raw)
		this, other := 0, 1
		if !isLeft {
			this, other = 1, 0
		}
		kept := sides[other][key]
		live := kept[:0]
		for _, o := range kept {
			if o.ts >= ts-window {
				live = append(live, o)
			}
		}
		sides[other][key] = live
		for _, o := range live {
			if o.ts <= ts+window {
				v := value + o.value
				if !isLeft {
					v = o.value + value
				}
				sink = append(sink, [2][]byte{[]byte(key), []byte(v)})
			}
		}
		sides[this][key] = append(sides[this][key], rec{ts: ts, value: value})
		if len(sink) >= 4096 {
			sink = sink[:0]
		}
	}
	return time.Since(start)
}
