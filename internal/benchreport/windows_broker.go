package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	eddyrt "github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// The on-broker rows of the windows and joins sections run their topology as an App on
// the bundled broker, in a child process as in the application section, and beside it,
// in the same run and on the same input, an App running a stateless pipeline: the ratio
// is what the windowing or joining costs once a broker is in the loop.

// onBrokerRecords is the input size of every on-broker run; a variable so that tests
// can run the rows small.
var onBrokerRecords = 200_000

// onBrokerBench is a topology to time on the broker beside a stateless App on the same
// input.
type onBrokerBench struct {
	name   string   // prefix of topic, group and state directory names
	inputs []string // input topics, produced before any run
	// produce writes the input to the input topics.
	produce func(ctx context.Context, addr string) error
	// stateful builds the measured topology writing to out; want is how many output
	// records it writes for the input.
	stateful func(out string) (*eddyrt.Topology, error)
	want     int64
}

// onBrokerRates returns the median input records/s of the stateful topology and of the
// stateless baseline, each from first input to all outputs read, over *appRuns runs.
func onBrokerRates(ctx context.Context, bench onBrokerBench, n int) (stateful, stateless float64, err error) {
	dir, err := os.MkdirTemp("", "eddy-bench-"+bench.name+"-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	child, err := startAppBroker(ctx, filepath.Join(dir, "broker"))
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if cerr := child.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	env := appEnv{addr: child.addr, dir: dir}
	if err := createAppTopics(ctx, env.addr, bench.inputs...); err != nil {
		return 0, 0, err
	}
	if err := bench.produce(ctx, env.addr); err != nil {
		return 0, 0, err
	}
	runner := func(kind string, build func(out string) (*eddyrt.Topology, error), want int64) func(context.Context, appEnv, int) (outputTimes, error) {
		return func(ctx context.Context, env appEnv, run int) (outputTimes, error) {
			id := fmt.Sprintf("%s-%s-%d", bench.name, kind, run)
			out := id + "-out"
			if err := createAppTopics(ctx, env.addr, out); err != nil {
				return outputTimes{}, err
			}
			top, err := build(out)
			if err != nil {
				return outputTimes{}, err
			}
			sdir, err := env.stateDir(id)
			if err != nil {
				return outputTimes{}, err
			}
			return timeUntilOutput(ctx, env.addr, out, want, launchEddy(top, eddyConfig(env, id, sdir, 1)))
		}
	}
	baseline := func(out string) (*eddyrt.Topology, error) {
		b := dsl.NewBuilder()
		strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
		s := b.Stream(bench.inputs[0], strs)
		for _, t := range bench.inputs[1:] {
			s = s.Merge(b.Stream(t, strs))
		}
		s.MapValues(strings.ToUpper).To(out)
		return b.Build()
	}
	contenders := []appContender{
		{id: bench.name, run: runner("stateful", bench.stateful, bench.want)},
		{id: "stateless", run: runner("stateless", baseline, int64(n))},
	}
	ts, err := compareApps(ctx, env, bench.name+" on broker", contenders)
	if err != nil {
		return 0, 0, err
	}
	return medianRate(n, ts[bench.name].all), medianRate(n, ts["stateless"].all), nil
}

// produceRecords writes n records made by gen with acks=all and no compression; gen
// sets each record's topic, key, value and, where it matters, timestamp and partition
// (the client partitions by key unless manual is set).
func produceRecords(ctx context.Context, addr string, n int, manual bool, gen func(i int) *kgo.Record) error {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.NoCompression())}
	if manual {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, gen(i), func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("produce: %w", firstErr)
	}
	return nil
}

// onBrokerEpoch is the timestamp of the first on-broker input record: recent, so that
// no retention by time touches the topics during the run.
func onBrokerEpoch() time.Time { return time.Now().Add(-time.Hour).Truncate(time.Second) }

// windowsOnBroker is the windowed count of the driver row as an App: the same keys,
// the same 1 ms timestamp steps, in a topic of appPartitions partitions.
func windowsOnBroker(n int) onBrokerBench {
	const input = "windows-in"
	keys := driverKeyNames()
	epoch := onBrokerEpoch()
	return onBrokerBench{
		name:   "windows",
		inputs: []string{input},
		produce: func(ctx context.Context, addr string) error {
			return produceRecords(ctx, addr, n, false, func(i int) *kgo.Record {
				return &kgo.Record{Topic: input, Key: []byte(keys[i%len(keys)]), Value: []byte("value"),
					Timestamp: epoch.Add(time.Duration(i) * windowStep)}
			})
		},
		stateful: func(out string) (*eddyrt.Topology, error) {
			b := dsl.NewBuilder()
			b.Stream(input, dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
				GroupByKey().
				WindowedBy(dsl.TimeWindowsOf(windowSize)).
				Count(dsl.Materialized[string, int64]{Name: "window-counts", InMemory: true}).
				ToStream().
				To(out)
			return b.Build()
		},
		// No cache and no late records (each partition's timestamps only grow): one
		// update per input record.
		want: int64(n),
	}
}
