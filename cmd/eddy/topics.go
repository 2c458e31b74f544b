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
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newTopicsCmd returns `eddy topics` and its subcommands.
func newTopicsCmd() *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List, create, describe and delete topics on any Kafka cluster",
		Long: `List, create, describe and delete topics through the Kafka admin protocol, on the
bundled broker, Apache Kafka or Redpanda alike.

--brokers (default 127.0.0.1:9092, or $EDDY_BROKERS when the flag is not given) names
the seed brokers; --timeout bounds the whole command.`,
		Args: cobra.NoArgs,
	}
	conn.register(cmd, "bound on the whole command")
	cmd.AddCommand(newTopicsListCmd(&conn), newTopicsCreateCmd(&conn), newTopicsDeleteCmd(&conn), newTopicsDescribeCmd(&conn))
	return cmd
}

func newTopicsListCmd(conn *connFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with their partition counts",
		Long: `List the cluster's topics, sorted by name, one line each with its partition count and
replication factor. Internal topics (such as __consumer_offsets on Apache Kafka) are left
out unless --internal is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				topics, err := adm.ListTopicsWithInternal(ctx)
				if err != nil {
					return fmt.Errorf("list topics: %w", err)
				}
				if !internal {
					topics.FilterInternal()
				}
				return printTopicList(cmd.OutOrStdout(), topics)
			})
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func printTopicList(out io.Writer, topics kadm.TopicDetails) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS")
	for _, t := range topics.Sorted() {
		if t.Err != nil {
			fmt.Fprintf(tw, "%s\t%v\t\n", t.Topic, t.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Topic, len(t.Partitions), t.Partitions.NumReplicas())
	}
	return tw.Flush()
}

func newTopicsCreateCmd(conn *connFlags) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic. --partitions and --replication-factor default to -1, which leaves the
choice to the broker (num.partitions and default.replication.factor; Kafka 2.4 or later).
Each --config key=value sets a topic config, for example
--config cleanup.policy=compact --config retention.ms=86400000; a value may contain
commas, so give the flag once per config.`,
		Example: `  eddy topics create orders --partitions 3 --config retention.ms=3600000`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resp, err := adm.CreateTopic(ctx, partitions, replicas, cfg, args[0])
				if err != nil {
					if resp.ErrMessage != "" {
						err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
					}
					return fmt.Errorf("create topic %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created topic %s: %d partitions, replication factor %d\n",
					resp.Topic, resp.NumPartitions, resp.ReplicationFactor)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.Int32Var(&partitions, "partitions", -1, "partition count; -1 leaves it to the broker")
	fl.Int16Var(&replicas, "replication-factor", -1, "replicas per partition; -1 leaves it to the broker")
	fl.StringArrayVar(&configs, "config", nil, "topic config as key=value (repeatable)")
	return cmd
}

// parseConfigs turns key=value flags into the configs of a CreateTopics request.
func parseConfigs(kvs []string) (map[string]*string, error) {
	cfg := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		if _, dup := cfg[k]; dup {
			return nil, fmt.Errorf("--config %q: %s given twice", kv, k)
		}
		cfg[k] = &v
	}
	return cfg, nil
}

func newTopicsDeleteCmd(conn *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Long: `Delete the named topics and all their records. Every topic is attempted; the command
fails if any of them could not be deleted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, args...)
				if err != nil {
					return fmt.Errorf("delete topics: %w", err)
				}
				return reportDeleted(cmd.OutOrStdout(), "topic", args, func(name string) (bool, error) {
					r, ok := resps[name]
					return ok, r.Err
				})
			})
		},
	}
}

func newTopicsDescribeCmd(conn *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions, offsets and non-default configs",
		Long: `Describe a topic: for each partition its leader, replicas, in-sync replicas and
start and end offsets (the end offset is the high watermark, which counts transaction
markers too), then the topic configs set on the topic itself, that is those whose
source is DYNAMIC_TOPIC_CONFIG and which therefore differ from the broker's defaults.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conn.admin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return describeTopic(ctx, adm, cmd.OutOrStdout(), args[0])
			})
		},
	}
}

func describeTopic(ctx context.Context, adm *kadm.Client, out io.Writer, name string) error {
	topics, err := adm.ListTopics(ctx, name)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", name, err)
	}
	t, ok := topics[name]
	if !ok {
		return fmt.Errorf("describe topic %s: not in the metadata answer", name)
	}
	if t.Err != nil {
		return fmt.Errorf("describe topic %s: %w", name, t.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("describe topic %s: start offsets: %w", name, err)
	}
	ends, err := adm.ListEndOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("describe topic %s: end offsets: %w", name, err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return fmt.Errorf("describe topic %s: configs: %w", name, err)
	}
	rc, err := configs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("describe topic %s: configs: %w", name, err)
	}

	fmt.Fprintf(out, "topic %s: %d partitions, replication factor %d\n", name, len(t.Partitions), t.Partitions.NumReplicas())
	tw := newTable(out)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART\tEND")
	for _, p := range t.Partitions.Sorted() {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, nodeList(p.Replicas), nodeList(p.ISR),
			listedOffset(starts, name, p.Partition), listedOffset(ends, name, p.Partition))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var set []string
	for _, c := range rc.Configs {
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		v := "(sensitive)"
		if c.Value != nil && !c.Sensitive {
			v = *c.Value
		}
		set = append(set, c.Key+"="+v)
	}
	slices.Sort(set)
	if len(set) == 0 {
		fmt.Fprintln(out, "configs: all defaults")
		return nil
	}
	fmt.Fprintln(out, "configs that differ from the defaults:")
	for _, kv := range set {
		fmt.Fprintf(out, "  %s\n", kv)
	}
	return nil
}

// nodeList prints broker IDs as 1,2,3.
func nodeList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// listedOffset prints a partition's listed offset, or why it is missing.
func listedOffset(l kadm.ListedOffsets, topic string, p int32) string {
	o, ok := l.Lookup(topic, p)
	switch {
	case !ok:
		return "?"
	case o.Err != nil:
		return "error: " + o.Err.Error()
	}
	return strconv.FormatInt(o.Offset, 10)
}
