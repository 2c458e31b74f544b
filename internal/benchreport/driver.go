package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime/testdriver"
	"github.com/eddy-io/eddy/serde"
)

// The test-driver section measures the framework's per-record cost with no broker: a
// topology runs in the test driver on the production task engine, and the same work is
// done by a plain Go loop in the same run, so the ratio is the framework's overhead.

const (
	driverRuns      = 5
	driverStateless = 1_000_000 // records per stateless run
	driverCount     = 200_000   // records per count run
	driverKeys      = 1024
)

func init() {
	register(section{order: 40, title: "Test driver throughput", run: runDriverSection})
}

// driverWorkload is one measured pair: the topology in the driver, and the hand-written
// loop doing the same work.
type driverWorkload struct {
	name    string
	records int
	goal    string
	eddy    func(n int) (time.Duration, error)
	loop    func(n int) time.Duration
}

func runDriverSection(ctx context.Context) (string, error) {
	workloads := []driverWorkload{
		{"stateless chain", driverStateless, "at least 1,000,000 records/s in the driver", driverStatelessRun, loopStateless},
		{"count", driverCount, "", driverCountRun, loopCount},
	}
	var md strings.Builder
	fmt.Fprintf(&md, "A topology built with the DSL runs in `runtime/testdriver` on the production task "+
		"engine and stores (in-memory engines), records piped one at a time and committed after each, as "+
		"Kafka's TopologyTestDriver does. The baseline is a plain Go loop doing the same decoding, "+
		"work and encoding in the same run, with no framework. Each figure is the median of %d runs.\n\n", driverRuns)
	md.WriteString("- stateless chain: string key and value; `MapValues(upper)`, `Filter(non-empty)`, `MapValues(append \"!\")`, `To`.\n")
	md.WriteString("- count: `GroupByKey().Count()` over 1,024 keys with the count table's updates written to a topic (logging on, caching off).\n\n")
	md.WriteString("| workload | records | driver records/s | plain loop records/s | driver / loop |\n| --- | ---: | ---: | ---: | ---: |\n")
	var goals []string
	for _, w := range workloads {
		var eddy, loop []float64
		for range driverRuns {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			d, err := w.eddy(w.records)
			if err != nil {
				return "", fmt.Errorf("%s: %w", w.name, err)
			}
			eddy = append(eddy, float64(w.records)/d.Seconds())
			loop = append(loop, float64(w.records)/w.loop(w.records).Seconds())
		}
		e, l := median(eddy), median(loop)
		fmt.Fprintf(&md, "| %s | %d | %.0f | %.0f | %.3fx |\n", w.name, w.records, e, l, e/l)
		if w.goal != "" {
			verdict := "met"
			if e < 1_000_000 {
				verdict = "not met"
			}
			goals = append(goals, fmt.Sprintf("Goal for the %s: %s: %s (%.0f records/s).", w.name, w.goal, verdict, e))
		}
	}
	md.WriteString("\n" + strings.Join(goals, " ") + "\n")
	return md.String(), nil
}

func driverKeyNames() []string {
	keys := make([]string, driverKeys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

func driverStatelessRun(n int) (time.Duration, error) {
	b := dsl.NewBuilder()
	b.Stream("in", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		MapValues(strings.ToUpper).
		Filter(func(_, v string) bool { return v != "" }).
		MapValues(func(v string) string { return v + "!" }).
		To("out")
	return pipeAll(b, n)
}

func driverCountRun(n int) (time.Duration, error) {
	b := dsl.NewBuilder()
	b.Stream("in", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupByKey().
		Count(dsl.Materialized[string, int64]{Name: "counts", InMemory: true}).
		ToStream().
		To("out")
	return pipeAll(b, n)
}

// pipeAll pipes n records with rotating keys into "in".
func pipeAll(b *dsl.Builder, n int) (time.Duration, error) {
	keys := driverKeyNames()
	return driveTimed(b, []string{"in"}, n, func(ins []*testdriver.InputTopic[string, string], i int) error {
		return ins[0].PipeInput(keys[i%len(keys)], "value")
	})
}

// driveTimed builds b's topology in the test driver with string input topics named
// inputs, then times n calls of pipe, reading the "out" topic every so often so it does
// not grow without bound.
func driveTimed(b *dsl.Builder, inputs []string, n int, pipe func(ins []*testdriver.InputTopic[string, string], i int) error) (time.Duration, error) {
	top, err := b.Build()
	if err != nil {
		return 0, err
	}
	d, err := testdriver.New(top, testdriver.Config{})
	if err != nil {
		return 0, err
	}
	defer d.Close()
	ins := make([]*testdriver.InputTopic[string, string], len(inputs))
	for j, name := range inputs {
		if ins[j], err = d.CreateInputTopic(name, serde.String(), serde.String()); err != nil {
			return 0, err
		}
	}
	o, err := d.CreateOutputTopic("out", serde.Bytes(), serde.Bytes())
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		if err := pipe(ins, i); err != nil {
			return 0, err
		}
		if i%4096 == 4095 {
			if _, err := o.ReadValuesToList(); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// loopStateless decodes, transforms, filters and encodes like the stateless topology.
func loopStateless(n int) time.Duration {
	keys := driverKeyNames()
	rawKeys := make([][]byte, len(keys))
	for i, k := range keys {
		rawKeys[i] = []byte(k)
	}
	value := []byte("value")
	var sink [][2][]byte
	start := time.Now()
	for i := range n {
		k, v := string(rawKeys[i%len(rawKeys)]), string(value)
		v = strings.ToUpper(v)
		if v == "" {
			continue
		}
		v += "!"
		sink = append(sink, [2][]byte{[]byte(k), []byte(v)})
		if len(sink) == 4096 {
			sink = sink[:0]
		}
	}
	return time.Since(start)
}

// loopCount keeps counts in a map and emits each update encoded, like the count
// topology without its store layers.
func loopCount(n int) time.Duration {
	keys := driverKeyNames()
	counts := make(map[string]int64, len(keys))
	i64 := serde.Int64()
	var sink [][2][]byte
	start := time.Now()
	for i := range n {
		k := keys[i%len(keys)]
		counts[k]++
		v, _ := i64.Encode(counts[k])
		sink = append(sink, [2][]byte{[]byte(k), v})
		if len(sink) == 4096 {
			sink = sink[:0]
		}
	}
	return time.Since(start)
}
