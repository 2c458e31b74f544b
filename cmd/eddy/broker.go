package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eddy-io/eddy/broker"
)

// fsyncPolicies are the values of --fsync, as broker.Config.Fsync takes them.
var fsyncPolicies = []string{"always", "interval", "os"}

// brokerFlags are the flags of `eddy broker`.
type brokerFlags struct {
	dataDir           string
	listen            string
	advertisedAddr    string
	fsync             string
	fsyncInterval     time.Duration
	autoCreateTopics  bool
	defaultPartitions int32
	nodeID            int32
	logLevel          string
}

// newBrokerCmd returns `eddy broker`, which hands the broker's config to run.
func newBrokerCmd(run func(ctx context.Context, cfg broker.Config) error) *cobra.Command {
	var f brokerFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the bundled single-node Kafka-protocol broker",
		Long: `Run the bundled single-node Kafka-protocol broker until SIGINT or SIGTERM, then
close it gracefully: connections are closed and every log is synced.

Topics, their configs and committed group offsets live in --data-dir and survive
restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "directory of the broker's topics, logs and group offsets (required)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9092", "TCP address to listen on")
	fl.StringVar(&f.advertisedAddr, "advertised-addr", "", "host:port clients are told to connect to (default: the address listened on)")
	fl.StringVar(&f.fsync, "fsync", "always", "log flush policy: always (acknowledged records are on disk), interval or os")
	fl.DurationVar(&f.fsyncInterval, "fsync-interval", time.Second, "background fsync period of --fsync interval")
	fl.BoolVar(&f.autoCreateTopics, "auto-create-topics", false, "create unknown topics on Metadata requests that allow it")
	fl.Int32Var(&f.defaultPartitions, "default-partitions", 1, "partition count of topics created without one")
	fl.Int32Var(&f.nodeID, "node-id", 1, "the broker's node ID")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	_ = cmd.MarkFlagRequired("data-dir") // the flag exists, so this cannot fail
	return cmd
}

// config checks the flags and turns them into a broker config that logs to stderr.
// Values the broker would take for "use the default" (0 partitions, node 0) are refused
// here, so that a flag never silently means something else.
func (f brokerFlags) config(stderr io.Writer) (broker.Config, error) {
	if !slices.Contains(fsyncPolicies, f.fsync) {
		return broker.Config{}, fmt.Errorf("--fsync %q: must be one of %s", f.fsync, strings.Join(fsyncPolicies, ", "))
	}
	if f.fsyncInterval <= 0 {
		return broker.Config{}, fmt.Errorf("--fsync-interval %v: must be positive", f.fsyncInterval)
	}
	if f.defaultPartitions < 1 {
		return broker.Config{}, fmt.Errorf("--default-partitions %d: must be at least 1", f.defaultPartitions)
	}
	if f.nodeID < 1 {
		return broker.Config{}, fmt.Errorf("--node-id %d: must be at least 1", f.nodeID)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return broker.Config{}, fmt.Errorf("--log-level %q: must be debug, info, warn or error", f.logLevel)
	}
	return broker.Config{
		DataDir:           f.dataDir,
		Listen:            f.listen,
		AdvertisedAddr:    f.advertisedAddr,
		NodeID:            f.nodeID,
		AutoCreateTopics:  f.autoCreateTopics,
		DefaultPartitions: f.defaultPartitions,
		Fsync:             f.fsync,
		FsyncInterval:     f.fsyncInterval,
		Logger:            slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}, nil
}

// runBroker runs a broker until ctx ends or the process gets SIGINT or SIGTERM, then
// closes it.
func runBroker(ctx context.Context, cfg broker.Config) error {
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	// The broker is started on a context that never ends so that the one Close below,
	// which waits for everything to be synced, is the one that shuts it down.
	if err := b.Start(context.WithoutCancel(ctx)); err != nil {
		return errors.Join(err, b.Close())
	}
	<-sigCtx.Done()
	cfg.Logger.Info("shutting down", "reason", context.Cause(sigCtx))
	if err := b.Close(); err != nil {
		return fmt.Errorf("close broker: %w", err)
	}
	cfg.Logger.Info("broker closed")
	return nil
}
