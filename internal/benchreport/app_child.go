package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/eddy-io/eddy/broker"
)

// The application section's broker runs in a child process, this same binary started
// with appBrokerChildEnv set to its data directory, so that its CPU and heap are apart
// from the applications under test. The child prints "addr HOST:PORT" once listening and
// closes the broker and exits when its stdin closes.
const appBrokerChildEnv = "EDDY_BENCH_APP_BROKER_CHILD"

func init() {
	if dir := os.Getenv(appBrokerChildEnv); dir != "" {
		// This process is the section's broker, not the report; main must not run.
		os.Exit(runAppBrokerChild(dir, os.Stdin, os.Stdout))
	}
}

func runAppBrokerChild(dir string, in io.Reader, out io.Writer) int {
	b, err := broker.New(broker.Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0",
		// Every contender starts its group members together; waiting for stragglers
		// would only add the same idle seconds to each run.
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.DiscardHandler),
	})
	if err == nil {
		if err = b.Start(context.Background()); err != nil {
			b.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	fmt.Fprintf(out, "addr %s\n", b.Addr())
	_, _ = io.Copy(io.Discard, in)
	if err := b.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "app broker child: close: %v\n", err)
		return 1
	}
	return 0
}

// startAppBroker starts the bundled broker in a child process on dir; close the
// returned child to stop it. The child is killed if ctx ends first.
func startAppBroker(ctx context.Context, dir string) (*brokerChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return launchBrokerChild(ctx, exe, appBrokerChildEnv+"="+dir, "app broker")
}
