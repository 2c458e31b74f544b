package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eddy-io/eddy/broker"
)

// brokerTarget is one broker under test. Every run starts it afresh, in a child process
// (see broker_child.go), on an empty data directory, so that no run reads what an earlier
// one left behind.
type brokerTarget struct {
	// id names the target in the table and in profile file names.
	id string
	// durability says when the target's acknowledged records reach the disk.
	durability string
	// ceiling marks a target that stores nothing and serves canned batches: it measures
	// what the client, not a broker, can do, and its consumer checks only the total.
	ceiling bool
	// start starts the broker in the calling (child) process and returns its address and
	// how to stop it.
	start func(ctx context.Context, dir string) (addr string, stop func() error, err error)
}

// brokerTargets are the contenders, ours first. The goal is measured against the first
// kfake row, which runs kfake as its DataDir option leaves it: persistent, but synced only
// on segment roll and close. The second kfake row syncs every batch, as we do by default.
// The last row is kfake storing nothing and serving canned batches: close to what the
// client alone can do on this machine, which bounds every broker's throughput.
func brokerTargets(w brokerWorkload) []brokerTarget {
	return []brokerTarget{
		{id: "eddy", durability: "fsync=always (default): a batch is on disk before it is acknowledged; concurrent appends share one fsync", start: startEddy},
		{id: "kfake", durability: "DataDir: written to the page cache per batch, fsynced only on segment roll and close", start: startKfake()},
		{id: "kfake-sync", durability: "DataDir + SyncWrites: segment and index fsynced after every batch", start: startKfake(kfake.SyncWrites())},
		{
			id:         "client-ceiling",
			durability: "none: kfake with BlackholeProduce (records discarded) and SyntheticFetch (fetches answered from one canned batch); what the client can do with a broker that does almost nothing",
			ceiling:    true,
			start: startKfake(kfake.BlackholeProduce(),
				kfake.SyntheticFetch(kfake.SyntheticBatch{RecordBytes: w.valueSize})),
		},
	}
}

func startEddy(ctx context.Context, dir string) (string, func() error, error) {
	b, err := broker.New(broker.Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0",
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return "", nil, fmt.Errorf("eddy: %w", err)
	}
	if err := b.Start(ctx); err != nil {
		b.Close()
		return "", nil, fmt.Errorf("eddy: %w", err)
	}
	return b.Addr(), b.Close, nil
}

// startKfake returns a start function for a one-broker kfake cluster persisting to the
// run's data directory, with extra options appended.
func startKfake(extra ...kfake.Opt) func(context.Context, string) (string, func() error, error) {
	return func(_ context.Context, dir string) (string, func() error, error) {
		opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(dir)}, extra...)
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			return "", nil, fmt.Errorf("kfake: %w", err)
		}
		return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
	}
}
