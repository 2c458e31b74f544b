package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	eddyrt "github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// The restore benchmark counts restoreRecords distinct keys, so that the count store's
// changelog holds one record per key, then restores that changelog into an empty state
// directory.
var restoreRecords = 500_000

const (
	restoreInput = "restore-in"
	restoreAppID = "restore-eddy"
	restoreStore = "counts"
)

func restoreChangelog() string { return restoreAppID + "-" + restoreStore + "-changelog" }

func restoreTopology() (*eddyrt.Topology, error) {
	b := dsl.NewBuilder()
	b.Stream(restoreInput, dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		GroupByKey().
		Count(dsl.Materialized[string, int64]{Name: restoreStore})
	return b.Build()
}

// restoreProgress is the restore listener: it notes when the first store started
// restoring and when the last record was applied.
type restoreProgress struct {
	mu          sync.Mutex
	first, last time.Time
	total       int64
	done        chan struct{}
}

func (p *restoreProgress) OnRestoreStart(eddyrt.TopicPartition, string, int64, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first.IsZero() {
		p.first = time.Now()
	}
}

func (p *restoreProgress) OnBatchRestored(eddyrt.TopicPartition, string, int64, int) {}

func (p *restoreProgress) OnRestoreEnd(_ eddyrt.TopicPartition, _ string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += total
	p.last = time.Now()
	if p.total >= int64(restoreRecords) {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	}
}

// restoreSample is one restore: from launching the application until its stores
// caught up, and from the first restore starting until the last ended.
type restoreSample struct{ launch, restore time.Duration }

func appRestoreSection(ctx context.Context, env appEnv, md *strings.Builder) error {
	if err := createAppTopics(ctx, env.addr, restoreInput); err != nil {
		return err
	}
	if err := produceInput(ctx, env.addr, restoreInput, restoreRecords, func(i int) ([]byte, []byte) {
		return fmt.Appendf(nil, "key-%d", i), []byte("v")
	}); err != nil {
		return err
	}
	top, err := restoreTopology()
	if err != nil {
		return err
	}
	stateRoot := filepath.Join(env.dir, "restore")
	if err := populateRestore(ctx, env, top, stateRoot); err != nil {
		return err
	}
	var samples []restoreSample
	var reads []time.Duration
	for run := range *appRuns {
		// The plain read of the changelog alternates with the restore.
		for i := range 2 {
			rctx, cancel := context.WithTimeout(ctx, appRunTimeout)
			if (run+i)%2 == 0 {
				s, err := restoreOnce(rctx, env, top, stateRoot)
				cancel()
				if err != nil {
					return fmt.Errorf("run %d: %w", run+1, err)
				}
				samples = append(samples, s)
				continue
			}
			d, err := readAll(rctx, env.addr, restoreChangelog(), int64(restoreRecords))
			cancel()
			if err != nil {
				return fmt.Errorf("read changelog, run %d: %w", run+1, err)
			}
			reads = append(reads, d)
		}
	}
	var launch, restore []time.Duration
	for _, s := range samples {
		launch, restore = append(launch, s.launch), append(restore, s.restore)
	}
	fmt.Fprintf(md, "### Restore\n\n"+
		"A count by key of %s distinct keys leaves %s records in its changelog (%d partitions). The application is then started on an empty "+
		"state directory with one stream thread and restores its Badger stores from the changelog before processing; "+
		"its input is fully committed, so restoring is all it does. "+
		"**restore** runs from the first store starting to restore until the last caught up, as the restore listener reports; "+
		"**start to restored** from creating the application until then, joining the group included. "+
		"The baseline is a plain franz-go consumer reading the same changelog from the start.\n\n",
		thousands(float64(restoreRecords)), thousands(float64(restoreRecords)), appPartitions)
	md.WriteString("| measure | time (s) | records/s |\n| --- | ---: | ---: |\n")
	fmt.Fprintf(md, "| restore | %.2f | %s |\n", medianDuration(restore).Seconds(), thousands(medianRate(restoreRecords, restore)))
	fmt.Fprintf(md, "| start to restored | %.2f | %s |\n", medianDuration(launch).Seconds(), thousands(medianRate(restoreRecords, launch)))
	fmt.Fprintf(md, "| franz-go consume of the changelog | %.2f | %s |\n", medianDuration(reads).Seconds(), thousands(medianRate(restoreRecords, reads)))
	ratio := medianRate(restoreRecords, restore) / medianRate(restoreRecords, reads)
	fmt.Fprintf(md, "| **restore / consume** | | **%.2fx** |\n\n", ratio)
	fmt.Fprintf(md, "No goal is set for restore yet; restoring runs at %.0f%% of the rate at which a bare consumer reads the changelog.\n\n", 100*ratio)
	return nil
}

// populateRestore runs the count until its changelog holds one record per key and
// commits, leaving the state directory under stateRoot for restoreOnce to remove.
func populateRestore(ctx context.Context, env appEnv, top *eddyrt.Topology, stateRoot string) error {
	ctx, cancel := context.WithTimeout(ctx, appRunTimeout)
	defer cancel()
	app, err := eddyrt.New(top, eddyConfig(env, restoreAppID, stateRoot, 1))
	if err != nil {
		return err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(ctx) }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.addr))
	if err != nil {
		return errors.Join(err, app.Close(ctx))
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, restoreChangelog())
		var n int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		}
		if n >= int64(restoreRecords) {
			break
		}
		select {
		case err := <-runErr:
			runErr <- err
			return errors.Join(fmt.Errorf("populate: %w (%d changelog records)", errAppEnded, n), err, app.Close(ctx))
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("populate: %d changelog records: %w", n, ctx.Err()), app.Close(context.Background()))
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Close commits the input offsets, so the restarts have nothing left to process.
	if err := app.Close(ctx); err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	if err := <-runErr; err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	return nil
}

// restoreOnce removes the application's state directory and starts it again, until its
// stores caught up with their changelogs.
func restoreOnce(ctx context.Context, env appEnv, top *eddyrt.Topology, stateRoot string) (s restoreSample, err error) {
	if err := os.RemoveAll(filepath.Join(stateRoot, restoreAppID)); err != nil {
		return s, err
	}
	progress := &restoreProgress{done: make(chan struct{})}
	cfg := eddyConfig(env, restoreAppID, stateRoot, 1)
	cfg.RestoreListener = progress
	start := time.Now()
	stop, failed, err := launchEddy(top, cfg)(ctx)
	if err != nil {
		return s, err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	select {
	case <-progress.done:
	case err := <-failed:
		return s, fmt.Errorf("%w: %w", errAppEnded, err)
	case <-ctx.Done():
		return s, ctx.Err()
	}
	progress.mu.Lock()
	defer progress.mu.Unlock()
	return restoreSample{launch: progress.last.Sub(start), restore: progress.last.Sub(progress.first)}, nil
}

// readAll reads topic from the start with a new client and returns the time from
// subscribing until want records were seen; connecting is excluded.
func readAll(ctx context.Context, addr, topic string, want int64) (time.Duration, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	var n int64
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("%d of %d records: %w", n, want, err)
		}
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		n += int64(fs.NumRecords())
	}
	return time.Since(start), nil
}
