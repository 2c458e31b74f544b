package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/eddy-io/eddy/broker"
)

// cliTimeout bounds one command run by a test.
const cliTimeout = 15 * time.Second

// cliEnv is a bundled broker started in-process for the client commands to talk to.
type cliEnv struct {
	t    *testing.T
	addr string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	b, err := broker.New(broker.Config{
		DataDir:                    t.TempDir(),
		Listen:                     "127.0.0.1:0",
		Fsync:                      "os",
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &cliEnv{t: t, addr: b.Addr()}
}

// cliRun is a command running in the background.
type cliRun struct {
	stdout, stderr syncBuffer
	done           chan error
	cancel         context.CancelFunc
}

// start runs `eddy <args> --brokers <broker>` in the background with stdin.
func (e *cliEnv) start(stdin io.Reader, args ...string) *cliRun {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	r := &cliRun{done: make(chan error, 1), cancel: cancel}
	root := newRootCmd()
	root.SetArgs(append(args, "--brokers", e.addr))
	root.SetIn(stdin)
	root.SetOut(&r.stdout)
	root.SetErr(&r.stderr)
	go func() { r.done <- root.ExecuteContext(ctx) }()
	e.t.Cleanup(cancel)
	return r
}

// wait waits for the command to end and returns its error.
func (r *cliRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(cliTimeout + 5*time.Second):
		t.Fatalf("command did not end; stdout:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
		return nil
	}
}

// run runs `eddy <args> --brokers <broker>` with stdin and returns its output.
func (e *cliEnv) run(stdin string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	r := e.start(strings.NewReader(stdin), args...)
	err = r.wait(e.t)
	return r.stdout.String(), r.stderr.String(), err
}

// must runs a command that has to succeed and returns its stdout.
func (e *cliEnv) must(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("eddy %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TestBrokersFlag checks where the client commands find the cluster: --brokers, else
// EDDY_BROKERS, else the default.
func TestBrokersFlag(t *testing.T) {
	e := newCLIEnv(t)
	e.must("", "topics", "create", "seen")
	tests := []struct {
		name    string
		env     string
		args    []string
		wantErr string
	}{
		{"env only", e.addr, nil, ""},
		{"flag beats env", "127.0.0.1:1", []string{"--brokers", " " + e.addr + " ,"}, ""},
		{"bad flag beats good env", e.addr, []string{"--brokers", "127.0.0.1:1", "--timeout", "1s"}, "list topics"},
		{"empty list", "", []string{"--brokers", " , "}, "no broker address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(brokersEnv, tt.env)
			root := newRootCmd()
			var out strings.Builder
			root.SetOut(&out)
			root.SetArgs(append([]string{"topics", "list"}, tt.args...))
			ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), "seen") {
				t.Fatalf("err = %v, out:\n%s", err, out.String())
			}
		})
	}
}

func TestBrokersDefault(t *testing.T) {
	t.Setenv(brokersEnv, "")
	var f connFlags
	cmd := &cobra.Command{Use: "x"}
	f.register(cmd, "")
	got, err := f.seeds(cmd)
	if err != nil || len(got) != 1 || got[0] != "127.0.0.1:9092" {
		t.Fatalf("seeds = %v, %v; want [127.0.0.1:9092]", got, err)
	}
}
