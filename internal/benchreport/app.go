package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

var (
	appRuns       = flag.Int("app-runs", 3, "runs per contender in the application section; the tables show medians")
	appCPUProfile = flag.String("app-cpuprofile", "", "if set, write a CPU profile of the report's process (the applications, not the broker) during every application-section run to PREFIX-<bench>-<contender>-r<run>.pprof")
)

// appCommitInterval is every contender's commit interval, so that none gains by
// committing less often than the others.
const appCommitInterval = time.Second

// appRunTimeout bounds one contender's run.
const appRunTimeout = time.Minute

func init() {
	register(section{order: 30, title: "Application throughput", run: runAppSection})
}

// appEnv is what every run of the section shares: the broker and a scratch directory.
type appEnv struct {
	addr string
	dir  string
}

// stateDir returns a new, empty directory for one run's local state.
func (e appEnv) stateDir(name string) (string, error) {
	return os.MkdirTemp(e.dir, name+"-")
}

// startAppEnv makes a temporary directory named with prefix and starts a bundled broker
// child with its data in it; closeEnv stops the broker and removes the directory.
func startAppEnv(ctx context.Context, prefix string) (env appEnv, closeEnv func() error, err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return env, nil, err
	}
	child, err := startAppBroker(ctx, filepath.Join(dir, "broker"))
	if err != nil {
		os.RemoveAll(dir)
		return env, nil, err
	}
	return appEnv{addr: child.addr, dir: dir}, func() error {
		defer os.RemoveAll(dir)
		return child.close()
	}, nil
}

// appContender is one side of a comparison. run does whatever setup the run needs
// untimed, then returns the timed part's times.
type appContender struct {
	id  string
	run func(ctx context.Context, env appEnv, run int) (outputTimes, error)
}

func runAppSection(ctx context.Context) (md string, err error) {
	if *appRuns < 1 {
		return "", fmt.Errorf("app-runs %d: need at least 1", *appRuns)
	}
	env, closeEnv, err := startAppEnv(ctx, "eddy-bench-app-")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := closeEnv(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	var b strings.Builder
	fmt.Fprintf(&b, "Applications run in the report's process against one bundled broker running in a child process "+
		"(group initial rebalance delay off, data fsynced before acknowledgement as by default), which the contenders share in turn. "+
		"Every contender produces with acks=all and no compression, commits every %s, and reads its input from the earliest offset; "+
		"inputs are produced before the clock starts. Each figure is the median of %d runs; the contenders take turns going first.\n\n",
		appCommitInterval, *appRuns)

	if err := appStatelessSection(ctx, env, &b); err != nil {
		return "", fmt.Errorf("stateless pipeline: %w", err)
	}
	if err := appWordCountSection(ctx, env, &b); err != nil {
		return "", fmt.Errorf("word count: %w", err)
	}
	if err := appRestoreSection(ctx, env, &b); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := appRSSSection(ctx, env, &b); err != nil {
		return "", fmt.Errorf("rss with %d tasks: %w", appRSSPartitions, err)
	}
	return b.String(), nil
}

// compareApps runs every contender *appRuns times, rotating which goes first, and
// returns each one's times.
func compareApps(ctx context.Context, env appEnv, what string, contenders []appContender) (map[string]appTimes, error) {
	out := make(map[string]appTimes, len(contenders))
	for run := range *appRuns {
		for i := range contenders {
			c := contenders[(run+i)%len(contenders)]
			// Garbage from the previous run must not be collected on this one's time.
			runtime.GC()
			rctx, cancel := context.WithTimeout(ctx, appRunTimeout)
			stopProfile, err := startAppProfile(what, c.id, run)
			if err != nil {
				cancel()
				return nil, err
			}
			t, err := c.run(rctx, env, run)
			cancel()
			if perr := stopProfile(); perr != nil && err == nil {
				err = perr
			}
			if err != nil {
				return nil, fmt.Errorf("%s, run %d: %w", c.id, run+1, err)
			}
			slog.Info("app run", "bench", what, "contender", c.id, "run", run+1,
				"first_output", t.first.Round(time.Millisecond), "took", t.all.Round(time.Millisecond))
			ts := out[c.id]
			ts.first, ts.all = append(ts.first, t.first), append(ts.all, t.all)
			out[c.id] = ts
		}
	}
	return out, nil
}

// startAppProfile starts a CPU profile of one run if -app-cpuprofile asks for it, and
// returns how to stop it.
func startAppProfile(what, contender string, run int) (func() error, error) {
	if *appCPUProfile == "" {
		return func() error { return nil }, nil
	}
	clean := strings.NewReplacer(" ", "_", "/", "_")
	name := fmt.Sprintf("%s-%s-%s-r%d.pprof", *appCPUProfile, clean.Replace(what), clean.Replace(contender), run+1)
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// appTimes are a contender's outputTimes of every run.
type appTimes struct{ first, all []time.Duration }

// medianRate turns durations of n records each into a median rate per second.
func medianRate(n int, ds []time.Duration) float64 {
	rs := make([]float64, len(ds))
	for i, d := range ds {
		rs[i] = float64(n) / d.Seconds()
	}
	return median(rs)
}

// medianDuration returns the median of ds.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// goalVerdict says whether ratio reaches goal.
func goalVerdict(ratio, goal float64) string {
	if ratio >= goal {
		return "meets it"
	}
	return "falls short"
}

// errAppEnded reports an application that stopped before its output was complete.
var errAppEnded = errors.New("application stopped before its output was complete")
