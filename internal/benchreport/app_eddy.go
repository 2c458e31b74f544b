package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	eddyrt "github.com/eddy-io/eddy/runtime"
)

// eddyConfig is the configuration every eddy application of the section runs with.
func eddyConfig(env appEnv, appID, stateDir string, threads int) eddyrt.Config {
	return eddyrt.Config{
		ApplicationID:    appID,
		BootstrapServers: []string{env.addr},
		StateDir:         stateDir,
		Threads:          threads,
		CommitInterval:   appCommitInterval,
		// franz-go's default is snappy; the other contenders are told not to compress.
		ClientOptions: []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())},
		Logger:        slog.New(slog.DiscardHandler),
	}
}

// launchEddy returns a launchFunc that creates and runs an application of top with cfg.
func launchEddy(top *eddyrt.Topology, cfg eddyrt.Config) launchFunc {
	return func(ctx context.Context) (func() error, <-chan error, error) {
		app, err := eddyrt.New(top, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("eddy: %w", err)
		}
		failed := make(chan error, 1)
		runErr := make(chan error, 1)
		go func() {
			err := app.Run(ctx)
			runErr <- err
			if err == nil {
				err = errNoError
			}
			failed <- err
		}()
		stop := func() error {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			cerr := app.Close(cctx)
			rerr := <-runErr
			if errors.Is(rerr, context.Canceled) || errors.Is(rerr, context.DeadlineExceeded) {
				rerr = nil
			}
			if err := errors.Join(rerr, cerr); err != nil {
				return fmt.Errorf("eddy: %w", err)
			}
			return nil
		}
		return stop, failed, nil
	}
}
