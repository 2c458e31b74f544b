// Package sandbox is what `eddy demo` and the examples run on: the bundled broker started
// in-process in a temporary directory, a client for it, and eddy applications run in the
// background. It is for programs that show eddy on one machine, not for production.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/broker"
	"github.com/eddy-io/eddy/runtime"
)

// Sandbox is a running broker in a temporary directory with a client connected to it.
type Sandbox struct {
	// Broker is the in-process broker, listening on a free port of 127.0.0.1.
	Broker *broker.Broker
	// Client is connected to Broker; its default options suit producing samples.
	Client *kgo.Client

	dir string
	log *slog.Logger
}

// Start creates a temporary directory named after name, starts the broker in it and
// connects a client. It reports the broker's address on out. Close undoes it all.
func Start(ctx context.Context, name string, out io.Writer) (*Sandbox, error) {
	dir, err := os.MkdirTemp("", "eddy-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{dir: dir, log: slog.New(slog.DiscardHandler)}
	s.Broker, err = broker.New(broker.Config{
		DataDir:                    filepath.Join(dir, "broker"),
		Listen:                     "127.0.0.1:0",
		Logger:                     s.log,
		GroupInitialRebalanceDelay: -1, // one process: nobody else is about to join
	})
	if err == nil {
		err = s.Broker.Start(ctx)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("sandbox: broker: %w", err)
	}
	if s.Client, err = kgo.NewClient(kgo.SeedBrokers(s.Broker.Addr())); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox: client: %w", err)
	}
	fmt.Fprintf(out, "broker listening on %s\n", s.Broker.Addr())
	return s, nil
}

// CreateTopics creates topics with the given partition count.
func (s *Sandbox) CreateTopics(ctx context.Context, partitions int32, topics ...string) error {
	resp, err := kadm.NewClient(s.Client).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("sandbox: create topics: %w", err)
	}
	return nil
}

// Close closes the client and the broker and removes the directory.
func (s *Sandbox) Close() error {
	if s.Client != nil {
		s.Client.Close()
	}
	err := s.Broker.Close()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// App is an eddy application running in the background of a sandbox.
type App struct {
	*runtime.App
	stop context.CancelFunc
	done chan error
}

// RunApp starts top as application appID on the sandbox's broker, with its state in the
// sandbox directory and a short commit interval so results show quickly.
func (s *Sandbox) RunApp(ctx context.Context, appID string, top *runtime.Topology) (*App, error) {
	app, err := runtime.New(top, runtime.Config{
		ApplicationID:    appID,
		BootstrapServers: []string{s.Broker.Addr()},
		StateDir:         filepath.Join(s.dir, "state-"+appID),
		CommitInterval:   100 * time.Millisecond,
		Logger:           s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: app %s: %w", appID, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	a := &App{App: app, stop: stop, done: make(chan error, 1)}
	go func() { a.done <- app.Run(runCtx) }()
	return a, nil
}

// Failed returns the error that stopped the application, or nil while it runs.
func (a *App) Failed() error {
	select {
	case err := <-a.done:
		a.done <- err // keep it for Stop
		if err == nil {
			err = errors.New("sandbox: application stopped")
		}
		return err
	default:
		return nil
	}
}

// Stop stops the application gracefully and returns what made it fail, if anything did.
func (a *App) Stop(ctx context.Context) error {
	a.stop()
	err := a.Close(context.WithoutCancel(ctx))
	if runErr := <-a.done; runErr != nil && !errors.Is(runErr, context.Canceled) {
		err = errors.Join(err, runErr)
	}
	return err
}
