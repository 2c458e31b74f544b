package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The App's resident memory with 64 stateful tasks: one stream thread counts an input
// topic of 64 partitions, so it runs 64 tasks, each with a Badger store and its changelog.

// appRSSPerPartition is the records written to each input partition; a variable so that
// tests can run it small.
var appRSSPerPartition = 5_000

const (
	appRSSPartitions = 64
	// appRSSKeys is the distinct keys of each partition, so every store holds that many.
	appRSSKeys    = 1_000
	appRSSTimeout = 2 * time.Minute
	appRSSInput   = "rss-in"
	appRSSOutput  = "rss-out"
)

func appRSSSection(ctx context.Context, env appEnv, md *strings.Builder) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.addr))
	if err != nil {
		return err
	}
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, appRSSPartitions, 1, nil, appRSSInput)
	cl.Close()
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", appRSSInput, err)
	}
	if err := createAppTopics(ctx, env.addr, appRSSOutput); err != nil {
		return err
	}
	n := appRSSPartitions * appRSSPerPartition
	value := strings.Repeat("v", statelessValueSize)
	err = produceRecords(ctx, env.addr, n, true, func(i int) *kgo.Record {
		p := i % appRSSPartitions
		return &kgo.Record{Topic: appRSSInput, Partition: int32(p),
			Key: fmt.Appendf(nil, "p%d-key-%d", p, (i/appRSSPartitions)%appRSSKeys), Value: []byte(value)}
	})
	if err != nil {
		return err
	}
	dir, err := env.stateDir("rss")
	if err != nil {
		return err
	}
	stages, err := appRSSChild(ctx, appRSSSpec{
		Addr: env.addr, Dir: dir, AppID: "rss-eddy", Input: appRSSInput, Output: appRSSOutput, Records: int64(n),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "### RSS with %d stateful tasks\n\n"+
		"A child process runs one eddy App (one stream thread) with `GroupByKey().Count()` over a topic of %d partitions, "+
		"so %d stateful tasks, each with its own Badger store (default options) logged to a changelog, and the counts written to an output topic. "+
		"Each partition holds %s records of %s keys with %d B values (%s records in all), produced before the App starts. "+
		"Once the App's committed offsets cover the whole input, the child reads `/proc/self/status` after a GC that returns freed heap "+
		"to the system; the first row, the same process before the App, is the bare-process baseline. RssFile is mostly Badger's mmap "+
		"of its table files, which the kernel can reclaim. One run: memory varies far less than throughput.\n\n",
		appRSSPartitions, appRSSPartitions, appRSSPartitions, thousands(float64(appRSSPerPartition)), thousands(appRSSKeys),
		statelessValueSize, thousands(float64(n)))
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
	fmt.Fprintf(md, "\nGoal (issues 3 and 5): %d stateful tasks within %d MiB of VmRSS: %s (%.0f MiB; the bare process is %s MiB).\n\n",
		appRSSPartitions, stateRSSBudget>>20, verdict, float64(peak)/(1<<20), mib(stages[0].VmRSS))
	return nil
}

// appRSSChild runs the measurement in a child process and returns its readings.
func appRSSChild(ctx context.Context, spec appRSSSpec) ([]rssStage, error) {
	ctx, cancel := context.WithTimeout(ctx, appRSSTimeout+30*time.Second)
	defer cancel()
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), appRSSChildEnv+"="+string(specJSON))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	out, runErr := cmd.Output()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if msg, ok := strings.CutPrefix(line, "err "); ok {
			return nil, fmt.Errorf("rss child: %s", msg)
		}
		if body, ok := strings.CutPrefix(line, "result "); ok {
			var stages []rssStage
			if err := json.Unmarshal([]byte(body), &stages); err != nil {
				return nil, fmt.Errorf("rss child result: %w", err)
			}
			if len(stages) == 0 {
				return nil, errors.New("rss child: no readings")
			}
			return stages, runErr
		}
	}
	if runErr != nil {
		return nil, fmt.Errorf("rss child: %w", runErr)
	}
	return nil, errors.New("rss child printed no result")
}
