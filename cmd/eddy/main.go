// Command eddy is eddy's command line. `eddy broker` runs the bundled Kafka-protocol
// broker as a server; `eddy topics`, `produce`, `consume` and `groups` work with any
// Kafka-protocol broker's topics, records and consumer groups; `eddy demo` runs a word
// count on a broker started in-process.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "eddy:", err)
		os.Exit(1)
	}
}

// newRootCmd returns the eddy command with its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "eddy",
		Short: "Kafka Streams for Go, with a bundled Kafka-protocol broker",
		// Errors are printed once by main; a usage dump would bury a runtime failure.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(newBrokerCmd(runBroker), newDemoCmd(), newTopicsCmd(), newProduceCmd(), newConsumeCmd(), newGroupsCmd())
	return root
}
