package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// commitTimeout bounds the final offset commit of `eddy consume --group`, which runs
// after Ctrl-C has ended the command's context.
const commitTimeout = 10 * time.Second

// fetchMaxWait is how long the broker may hold a fetch that has no records yet. kgo's
// default is 5s; Kafka's Java consumer and librdkafka wait 500ms, which keeps a partition
// that starts late (while its start offset is listed) from waiting behind a long poll on
// the others.
const fetchMaxWait = 500 * time.Millisecond

// consumeFlags are the flags of `eddy consume`.
type consumeFlags struct {
	conn          connFlags
	format        string
	fromBeginning bool
	count         int
	group         string
	isolation     string
}

func newConsumeCmd() *cobra.Command {
	var f consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print a topic's records to stdout",
		Long: `Consume topics and print each record to stdout until --count records were printed,
or Ctrl-C (SIGINT or SIGTERM) ends the command; a summary goes to stderr.

Without --group every partition is read from its end, or from its start with
--from-beginning, and nothing is committed. With --group G the command joins consumer
group G, resumes from G's committed offsets (--from-beginning applies only to partitions
G has no offset for, as in kafka-console-consumer), and commits what it printed: every 5s
and once more before it exits, so the next run continues after the last printed record.

--isolation is read_committed by default (as librdkafka and kcat): records of open or
aborted transactions are never printed. read_uncommitted shows them as they are written,
as Kafka's Java consumer does by default.

--format is one of
  value       the value and a newline (default)
  key-value   key, tab, value, newline
  json        one JSON object per line: topic, partition, offset, timestamp (Unix ms),
              key, value and headers; a key or value that is not UTF-8 comes as
              key_base64 or value_base64, and a null one as null
or a template in which %t is the topic, %p the partition, %o the offset, %k the key,
%v the value, %T the timestamp in Unix milliseconds, %h the headers as k=v,k=v and %%
a percent sign; \n, \t, \r, \0 and \\ are escapes, so '%k\t%v\n' works inside single
quotes.`,
		Example: `  eddy consume orders --from-beginning --count 10
  eddy consume orders --group audit --format '%p/%o %k=%v\n'
  eddy consume orders --format json --isolation read_uncommitted`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return f.run(ctx, cmd, args)
		},
	}
	f.conn.register(cmd, "")
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "value", "value, key-value, json, or a template such as '%k\\t%v\\n'")
	fl.BoolVar(&f.fromBeginning, "from-beginning", false, "start at the earliest offset instead of the end")
	fl.IntVar(&f.count, "count", 0, "exit after printing this many records (0: run until interrupted)")
	fl.StringVar(&f.group, "group", "", "consume as this consumer group and commit offsets")
	fl.StringVar(&f.isolation, "isolation", "read_committed", "read_committed or read_uncommitted")
	return cmd
}

// run consumes until --count records were printed or ctx ends, which is a normal exit.
func (f *consumeFlags) run(ctx context.Context, cmd *cobra.Command, topics []string) error {
	format, err := parseFormat(f.format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	if f.count < 0 {
		return fmt.Errorf("--count %d: must not be negative", f.count)
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(topics...), kgo.FetchMaxWait(fetchMaxWait)}
	switch f.isolation {
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	case "read_uncommitted":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	default:
		return fmt.Errorf("--isolation %q: must be read_committed or read_uncommitted", f.isolation)
	}
	if f.fromBeginning {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	}
	if f.group != "" {
		opts = append(opts, kgo.ConsumerGroup(f.group))
	}
	cl, err := f.conn.client(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// A consumer of a topic that does not exist would wait for it silently.
	if err := checkTopics(ctx, kadm.NewClient(cl), topics); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	n, pollErr := f.poll(ctx, cl, out, format)
	err = errors.Join(pollErr, out.Flush())
	if f.group != "" && n > 0 {
		// The context may have ended with Ctrl-C; the commit still has to happen.
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if cerr := cl.CommitUncommittedOffsets(commitCtx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("commit offsets of group %s: %w", f.group, cerr))
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "consumed %d records\n", n)
	return err
}

// poll prints records until --count is reached or ctx ends, and returns how many it
// printed. Asking kgo for no more records than are still wanted means that everything
// polled is printed, so committing what was polled commits exactly what was printed.
func (f *consumeFlags) poll(ctx context.Context, cl *kgo.Client, out *bufio.Writer, format recordFormat) (int, error) {
	n := 0
	var buf []byte
	for f.count == 0 || n < f.count {
		limit := 0 // all that is buffered
		if f.count > 0 {
			limit = f.count - n
		}
		fs := cl.PollRecords(ctx, limit)
		for it := fs.RecordIter(); !it.Done(); {
			buf = format(buf[:0], it.Next())
			if _, err := out.Write(buf); err != nil {
				return n, fmt.Errorf("write record: %w", err)
			}
			n++
		}
		if err := out.Flush(); err != nil {
			return n, fmt.Errorf("write record: %w", err)
		}
		if ctx.Err() != nil {
			return n, nil
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) {
			fetchErr = errors.Join(fetchErr, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
		})
		if fetchErr != nil {
			return n, fetchErr
		}
	}
	return n, nil
}

// checkTopics fails unless every topic exists.
func checkTopics(ctx context.Context, adm *kadm.Client, topics []string) error {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	for _, t := range topics {
		d, ok := details[t]
		if !ok {
			return fmt.Errorf("topic %s: not in the metadata answer", t)
		}
		if d.Err != nil {
			return fmt.Errorf("topic %s: %w", t, d.Err)
		}
	}
	return nil
}
