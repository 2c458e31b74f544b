package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokersEnv names the environment variable that replaces the default of --brokers.
const brokersEnv = "EDDY_BROKERS"

// defaultBrokers is where `eddy broker` listens by default.
const defaultBrokers = "127.0.0.1:9092"

// errNoBrokers is returned when --brokers (or EDDY_BROKERS) lists no address.
var errNoBrokers = errors.New("no broker address given")

// connFlags are the flags of the commands that talk to a Kafka cluster as a client.
// Each such command has its own copy, so that `eddy broker` does not show a --brokers
// flag it would ignore.
type connFlags struct {
	brokers string
	timeout time.Duration
}

// register adds --brokers as a persistent flag of cmd, so its subcommands have it too,
// and --timeout with timeoutUsage unless that is empty.
func (f *connFlags) register(cmd *cobra.Command, timeoutUsage string) {
	cmd.PersistentFlags().StringVar(&f.brokers, "brokers", defaultBrokers,
		"comma-separated seed brokers (host:port); "+brokersEnv+" replaces the default")
	if timeoutUsage != "" {
		cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, timeoutUsage)
	}
}

// seeds returns the seed brokers: --brokers if it was given, else EDDY_BROKERS if set,
// else the default.
func (f *connFlags) seeds(cmd *cobra.Command) ([]string, error) {
	list := f.brokers
	if !cmd.Flags().Changed("brokers") && os.Getenv(brokersEnv) != "" {
		list = os.Getenv(brokersEnv)
	}
	var seeds []string
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("--brokers %q: %w", list, errNoBrokers)
	}
	return seeds, nil
}

// client returns a franz-go client for the seed brokers with the extra options.
func (f *connFlags) client(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := f.seeds(cmd)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("eddy-cli")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// admin runs fn with an admin client and a context bounded by --timeout, closing the
// client afterwards.
func (f *connFlags) admin(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client) error) error {
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	cl, err := f.client(cmd)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	return fn(ctx, kadm.NewClient(cl))
}

// newTable returns a writer that aligns tab-separated columns; Flush prints it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// reportDeleted prints "deleted KIND NAME" for each name the broker deleted and returns
// an error naming every other one, with why: result says whether name is in the answer
// and with which error.
func reportDeleted(w io.Writer, kind string, names []string, result func(name string) (answered bool, err error)) error {
	var failed []string
	for _, name := range names {
		answered, err := result(name)
		switch {
		case !answered:
			failed = append(failed, name+": not in the answer")
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
		default:
			fmt.Fprintf(w, "deleted %s %s\n", kind, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("delete %ss: %s", kind, strings.Join(failed, "; "))
	}
	return nil
}
