package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// newGroupsCmd returns `eddy groups` and its subcommands.
func newGroupsCmd() *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List, describe and delete consumer groups on any Kafka cluster",
		Long: `List, describe and delete consumer groups (the classic group protocol) through the
Kafka admin protocol, on the bundled broker, Apache Kafka or Redpanda alike. An eddy
application's group is named after its application ID.

--brokers (default 127.0.0.1:9092, or $EDDY_BROKERS when the flag is not given) names
the seed brokers; --timeout bounds the whole command.`,
		Args: cobra.NoArgs,
	}
	conn.register(cmd, "bound on the whole command")
	cmd.AddCommand(newGroupsListCmd(&conn), newGroupsDescribeCmd(&conn), newGroupsDeleteCmd(&conn))
	return cmd
}

func newGroupsListCmd(conn *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List groups with their state",
		Long:  `List the cluster's groups, sorted by name, with their state and protocol type.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				groups, err := adm.ListGroups(ctx)
				if err != nil {
					return fmt.Errorf("list groups: %w", err)
				}
				tw := newTable(cmd.OutOrStdout())
				fmt.Fprintln(tw, "GROUP\tSTATE\tTYPE")
				for _, g := range groups.Sorted() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
				}
				return tw.Flush()
			})
		},
	}
}

func newGroupsDescribeCmd(conn *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, assignments, committed offsets and lag",
		Long: `Describe groups: state, protocol and coordinator; each member with its client ID,
host and assigned partitions; then for each partition the group has an offset for or is
assigned, the committed offset, the end offset (high watermark), the lag between them and
the member that owns it. A partition without a commit shows "-" and counts its whole
length as lag. A consumer that commits the offset after the last record it read, as
eddy consume does, leaves a transaction's final commit marker as a lag of 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				lags, err := adm.Lag(ctx, args...)
				if err != nil {
					return fmt.Errorf("describe groups: %w", err)
				}
				out := cmd.OutOrStdout()
				for i, name := range args {
					l, ok := lags[name]
					switch {
					case !ok:
						return fmt.Errorf("describe group %s: not in the answer", name)
					case l.Error() != nil:
						return fmt.Errorf("describe group %s: %w", name, l.Error())
					case l.State == "Dead":
						return fmt.Errorf("describe group %s: no such group", name)
					}
					if i > 0 {
						fmt.Fprintln(out)
					}
					if err := printGroup(out, l); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func printGroup(out io.Writer, l kadm.DescribedGroupLag) error {
	protocol := l.ProtocolType
	if l.Protocol != "" {
		protocol += "/" + l.Protocol
	}
	fmt.Fprintf(out, "group %s: state %s, protocol %s, coordinator %d, %d members\n",
		l.Group, l.State, protocol, l.Coordinator.NodeID, len(l.Members))
	if len(l.Members) > 0 {
		tw := newTable(out)
		fmt.Fprintln(tw, "MEMBER\tCLIENT-ID\tHOST\tASSIGNED")
		for _, m := range l.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.MemberID, orDash(m.ClientID), orDash(m.ClientHost), assigned(m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	rows := l.Lag.Sorted()
	if len(rows) == 0 {
		fmt.Fprintln(out, "no committed offsets")
		return nil
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, r := range rows {
		committed, end, lag := "-", "-", "-"
		if r.Commit.At >= 0 {
			committed = strconv.FormatInt(r.Commit.At, 10)
		}
		if r.End.Err == nil {
			end = strconv.FormatInt(r.End.Offset, 10)
		}
		if r.Err == nil {
			lag = strconv.FormatInt(r.Lag, 10)
		} else {
			lag = "error: " + r.Err.Error()
		}
		member := "-"
		if r.Member != nil {
			member = r.Member.MemberID
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Topic, r.Partition, committed, end, lag, member)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "total lag %d\n", l.Lag.Total())
	return nil
}

// orDash keeps an empty table cell visible.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// assigned prints a consumer member's assignment as topic[0,1] topic2[3].
func assigned(m kadm.DescribedGroupMember) string {
	c, ok := m.Assigned.AsConsumer()
	if !ok {
		return "(not a consumer assignment)"
	}
	var parts []string
	for _, t := range c.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+"["+nodeList(ps)+"]")
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func newGroupsDeleteCmd(conn *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete groups and their committed offsets",
		Long: `Delete groups with their committed offsets. A group with members cannot be deleted
(the broker answers NON_EMPTY_GROUP); stop its consumers first. Every group is attempted;
the command fails if any could not be deleted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteGroups(ctx, args...)
				if err != nil {
					return fmt.Errorf("delete groups: %w", err)
				}
				return reportDeleted(cmd.OutOrStdout(), "group", args, func(name string) (bool, error) {
					r, ok := resps[name]
					return ok, r.Err
				})
			})
		},
	}
}
