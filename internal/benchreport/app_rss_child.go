package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/serde"
)

// The 64-task memory reading runs in a child process, this binary started with
// appRSSChildEnv set to an appRSSSpec, so that its resident memory is the App's alone:
// not the report's, the broker's, nor that of earlier runs. The child prints one line,
// "result JSON" with its rssStages, or "err MESSAGE", and exits.
const appRSSChildEnv = "EDDY_BENCH_APP_RSS_CHILD"

// appRSSSpec says what the child runs: a count over input, which the parent has filled.
type appRSSSpec struct {
	Addr    string `json:"addr"`
	Dir     string `json:"dir"`
	AppID   string `json:"app_id"`
	Input   string `json:"input"`
	Output  string `json:"output"`
	Records int64  `json:"records"` // in the input, all partitions
}

func init() {
	if spec := os.Getenv(appRSSChildEnv); spec != "" {
		// This process is a measurement, not the report; main must not run.
		os.Exit(runAppRSSChild(spec, os.Stdout))
	}
}

func runAppRSSChild(specJSON string, out io.Writer) int {
	stages, err := appRSSMeasure(specJSON)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(stages); err == nil {
			fmt.Fprintf(out, "result %s\n", b)
			return 0
		}
	}
	fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	return 1
}

// appRSSMeasure reads the process's memory before anything runs, then runs the App
// until its committed input offsets reach the input's end and reads it again, each time
// after a GC that returns freed heap to the system.
func appRSSMeasure(specJSON string) (stages []rssStage, err error) {
	var spec appRSSSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	sample := func(stage string) error {
		runtime.GC()
		debug.FreeOSMemory()
		s, err := readRSS()
		if err != nil {
			return err
		}
		s.Stage, s.Goroutines = stage, runtime.NumGoroutine()
		stages = append(stages, s)
		return nil
	}
	if err := sample("process started, no App"); err != nil {
		return nil, err
	}

	b := dsl.NewBuilder()
	b.Stream(spec.Input, dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupByKey().
		Count(dsl.Materialized[string, int64]{Name: "counts"}).
		ToStream().
		To(spec.Output)
	top, err := b.Build()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), appRSSTimeout)
	defer cancel()
	stop, failed, err := launchEddy(top, eddyConfig(appEnv{addr: spec.Addr}, spec.AppID, spec.Dir, 1))(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stop()) }()
	if err := waitCommitted(ctx, spec, failed); err != nil {
		return nil, err
	}
	if err := sample(fmt.Sprintf("%d tasks, all %s input records processed and committed", appRSSPartitions, thousands(float64(spec.Records)))); err != nil {
		return nil, err
	}
	return stages, nil
}

// waitCommitted polls the App's committed offsets until they cover the whole input.
func waitCommitted(ctx context.Context, spec appRSSSpec, failed <-chan error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(spec.Addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-failed:
			return fmt.Errorf("%w: %w", errAppEnded, err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the App's commits: %w", ctx.Err())
		case <-tick.C:
		}
		committed, err := adm.FetchOffsets(ctx, spec.AppID)
		if err != nil {
			continue // the group may not exist yet
		}
		var done int64
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Topic == spec.Input && o.Err == nil {
				done += o.At
			}
		})
		// Offsets start at 0 and the input was written once, so the committed
		// offsets sum to the record count once all is processed.
		if done >= spec.Records {
			return nil
		}
	}
}
