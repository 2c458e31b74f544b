package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/serde"
)

// statelessRecords is the stateless pipeline's input size; a variable so that tests
// can run the section small.
var statelessRecords = 1_500_000

// The stateless pipeline: upper-case every value and drop those that start with
// statelessDropPrefix, one record in statelessDropEvery.
const (
	statelessValueSize  = 100
	statelessDropEvery  = 10
	statelessDropPrefix = "SKIP"
	statelessInput      = "stateless-in"
)

// statelessRecord is input record i: a distinct key and a lower-case value of
// statelessValueSize bytes.
func statelessRecord(i int) (key, value []byte) {
	prefix := "keep"
	if i%statelessDropEvery == 0 {
		prefix = strings.ToLower(statelessDropPrefix)
	}
	v := fmt.Sprintf("%s-%09d-", prefix, i)
	v += strings.Repeat("abcdefghij", statelessValueSize/10)[:statelessValueSize-len(v)]
	return fmt.Appendf(nil, "key-%d", i), []byte(v)
}

// statelessKeep is the pipeline's filter, after upper-casing.
func statelessKeep(v string) bool { return !strings.HasPrefix(v, statelessDropPrefix) }

func statelessWant() int64 {
	return int64(statelessRecords - (statelessRecords+statelessDropEvery-1)/statelessDropEvery)
}

func appStatelessSection(ctx context.Context, env appEnv, md *strings.Builder) error {
	if err := createAppTopics(ctx, env.addr, statelessInput); err != nil {
		return err
	}
	if err := produceInput(ctx, env.addr, statelessInput, statelessRecords, statelessRecord); err != nil {
		return err
	}
	contenders := []appContender{
		{id: "eddy", run: runStatelessEddy},
		{id: "franz-go loop", run: runStatelessLoop},
	}
	ds, err := compareApps(ctx, env, "stateless", contenders)
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "### Stateless pipeline\n\n"+
		"%s records of %d B values in a topic of %d partitions, upper-cased (`MapValues(strings.ToUpper)`), filtered (one in %d dropped) "+
		"and written to an output topic of %d partitions by the input key. "+
		"**eddy** runs the DSL topology with one stream thread. The **franz-go loop** is the hand-written equivalent: one kgo client in a consumer group "+
		"polls, maps and filters, produces asynchronously, and every commit interval flushes the producer and commits what it polled "+
		"(at least once, as eddy). Times run from starting the application (group join included) until a separate reader has seen the first and all %s output records; rates are of the latter.\n\n",
		thousands(float64(statelessRecords)), statelessValueSize, appPartitions, statelessDropEvery, appPartitions, thousands(float64(statelessWant())))
	md.WriteString("| contender | first output (s) | all output (s) | input records/s |\n| --- | ---: | ---: | ---: |\n")
	for _, c := range contenders {
		t := ds[c.id]
		fmt.Fprintf(md, "| %s | %.2f | %.2f | %s |\n", c.id, medianDuration(t.first).Seconds(), medianDuration(t.all).Seconds(),
			thousands(medianRate(statelessRecords, t.all)))
	}
	ratio := medianRate(statelessRecords, ds["eddy"].all) / medianRate(statelessRecords, ds["franz-go loop"].all)
	fmt.Fprintf(md, "| **eddy / loop** | | | **%.2fx** |\n\n", ratio)
	fmt.Fprintf(md, "Goal: at least 0.80x the loop's records/s. eddy %s (%.2fx).\n\n", goalVerdict(ratio, 0.8), ratio)
	return nil
}

func runStatelessEddy(ctx context.Context, env appEnv, run int) (outputTimes, error) {
	out := fmt.Sprintf("stateless-out-eddy-%d", run)
	if err := createAppTopics(ctx, env.addr, out); err != nil {
		return outputTimes{}, err
	}
	b := dsl.NewBuilder()
	b.Stream(statelessInput, dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		MapValues(strings.ToUpper).
		Filter(func(_, v string) bool { return statelessKeep(v) }).
		To(out)
	top, err := b.Build()
	if err != nil {
		return outputTimes{}, err
	}
	dir, err := env.stateDir("stateless")
	if err != nil {
		return outputTimes{}, err
	}
	cfg := eddyConfig(env, fmt.Sprintf("stateless-eddy-%d", run), dir, 1)
	return timeUntilOutput(ctx, env.addr, out, statelessWant(), launchEddy(top, cfg))
}

func runStatelessLoop(ctx context.Context, env appEnv, run int) (outputTimes, error) {
	out := fmt.Sprintf("stateless-out-loop-%d", run)
	if err := createAppTopics(ctx, env.addr, out); err != nil {
		return outputTimes{}, err
	}
	group := fmt.Sprintf("stateless-loop-%d", run)
	return timeUntilOutput(ctx, env.addr, out, statelessWant(), func(ctx context.Context) (func() error, <-chan error, error) {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(env.addr),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(statelessInput),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
		)
		if err != nil {
			return nil, nil, err
		}
		lctx, cancel := context.WithCancel(ctx)
		failed := make(chan error, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := mapFilterLoop(lctx, cl, out)
			if err == nil {
				err = errNoError
			}
			failed <- err
		}()
		stop := func() error {
			cancel()
			wg.Wait()
			// Leave the group with the last commit done, as eddy's Close does.
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer ccancel()
			err := cl.Flush(cctx)
			if err == nil {
				err = cl.CommitUncommittedOffsets(cctx)
			}
			cl.Close()
			return err
		}
		return stop, failed, nil
	})
}

// mapFilterLoop is the hand-written pipeline: poll, upper-case, filter, produce, and
// every commit interval wait for the output's acknowledgements and commit the input.
// It returns when ctx ends (nil) or on the first error.
func mapFilterLoop(ctx context.Context, cl *kgo.Client, out string) error {
	var (
		mu      sync.Mutex
		prodErr error
	)
	onProduced := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if prodErr == nil {
				prodErr = err
			}
			mu.Unlock()
		}
	}
	lastCommit := time.Now()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fs.Err0(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := strings.ToUpper(string(r.Value))
			if !statelessKeep(v) {
				return
			}
			cl.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: []byte(v)}, onProduced)
		})
		mu.Lock()
		err := prodErr
		mu.Unlock()
		if err != nil {
			return err
		}
		if time.Since(lastCommit) >= appCommitInterval {
			if err := cl.Flush(ctx); err != nil {
				return ignoreCanceled(err)
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				return ignoreCanceled(err)
			}
			lastCommit = time.Now()
		}
	}
}

// ignoreCanceled hides the error of an operation cut short by the end of the run.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
