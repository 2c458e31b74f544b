package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxLineBytes bounds one line of `eddy produce`, so that input without newlines cannot
// take all memory; a record that large is past any broker's default limit anyway.
const maxLineBytes = 16 << 20

// produceFlags are the flags of `eddy produce`.
type produceFlags struct {
	conn          connFlags
	keySeparator  string
	partition     int32
	transactional string
	txnTimeout    time.Duration
	acks          string
}

func newProduceCmd() *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write stdin to a topic, one record per line",
		Long: `Read lines from stdin and write each as one record to TOPIC, then print a summary to
stderr. The newline (and a carriage return before it) is not part of the record; an empty
line is a record with an empty value. Lines may be up to 16 MiB.

With --key-separator SEP each line is split at the first SEP into key and value; a line
without SEP becomes a record with a null key and the whole line as value. Without it,
records have null keys.

Records go to the partition the key hashes to (murmur2, as Kafka's Java client does), or
spread over partitions when keys are null; --partition N writes every record to
partition N.

--acks is all (default: the in-sync replicas have the record; the producer is
idempotent, so retries write no duplicates), 1 (the leader has it) or 0 (no answer).

With --transactional-id ID all lines go into one transaction, committed at end of input;
if a record fails, input cannot be read, or the command is interrupted (Ctrl-C), the
transaction is aborted and read_committed consumers see none of it. It needs --acks all.
--transaction-timeout must cover the time from the first record to the end of input, or
the broker aborts the transaction.

The command fails (exit status 1) unless every record read was acknowledged (and, with a
transaction, committed). --timeout bounds how long one record may wait to be
acknowledged.`,
		Example: `  printf 'ada:/home\nbob:/docs\n' | eddy produce page-views --key-separator :
  eddy produce orders --transactional-id loader-1 < orders.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return f.run(ctx, cmd, args[0])
		},
	}
	f.conn.register(cmd, "how long a record may wait to be acknowledged, and the transaction to end")
	fl := cmd.Flags()
	fl.StringVar(&f.keySeparator, "key-separator", "", "split each line at the first occurrence into key and value")
	fl.Int32Var(&f.partition, "partition", -1, "write every record to this partition (-1: by key)")
	fl.StringVar(&f.transactional, "transactional-id", "", "produce all input in one transaction, committed at end of input")
	fl.DurationVar(&f.txnTimeout, "transaction-timeout", time.Minute, "how long the broker lets the transaction stay open")
	fl.StringVar(&f.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	return cmd
}

// options checks the flags and returns the client options they imply.
func (f *produceFlags) options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch f.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1", "0":
		if f.transactional != "" {
			return nil, fmt.Errorf("--acks %s: a transaction needs --acks all", f.acks)
		}
		acks := kgo.LeaderAck()
		if f.acks == "0" {
			acks = kgo.NoAck()
		}
		// Idempotence needs acks from all in-sync replicas.
		opts = append(opts, kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: must be all, 1 or 0", f.acks)
	}
	if f.partition < -1 {
		return nil, fmt.Errorf("--partition %d: must be a partition number or -1", f.partition)
	}
	if f.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	if f.conn.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: must be positive", f.conn.timeout)
	}
	opts = append(opts, kgo.RecordDeliveryTimeout(f.conn.timeout))
	if f.transactional != "" {
		opts = append(opts, kgo.TransactionalID(f.transactional), kgo.TransactionTimeout(f.txnTimeout))
	}
	return opts, nil
}

// produceTally counts what the producer's promises reported.
type produceTally struct {
	read, acked, failed atomic.Int64
	pending             sync.WaitGroup // one per record whose promise has not run
	mu                  sync.Mutex
	firstErr            error
}

func (t *produceTally) promise(_ *kgo.Record, err error) {
	defer t.pending.Done()
	if err == nil {
		t.acked.Add(1)
		return
	}
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstErr == nil {
		t.firstErr = err
	}
}

func (f *produceFlags) run(ctx context.Context, cmd *cobra.Command, topic string) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	cl, err := f.conn.client(cmd, opts...)
	if err != nil {
		return err
	}
	if f.transactional != "" {
		if err := cl.BeginTransaction(); err != nil {
			cl.Close()
			return fmt.Errorf("begin transaction: %w", err)
		}
	}

	var tally produceTally
	readErr := readLines(ctx, cmd.InOrStdin(), func(line []byte) {
		tally.read.Add(1)
		tally.pending.Add(1)
		cl.Produce(ctx, f.record(topic, line), tally.promise)
	})
	interrupted := ctx.Err() != nil
	flushErr := cl.Flush(ctx)

	var txnErr error
	outcome := ""
	if f.transactional != "" {
		ok := readErr == nil && !interrupted && flushErr == nil && tally.failed.Load() == 0
		outcome, txnErr = f.endTransaction(ctx, cl, ok, tally.acked.Load() > 0)
	}
	// Close fails whatever is still buffered after an interruption; kgo then calls
	// every promise exactly once, from its own goroutine.
	cl.Close()
	tally.pending.Wait()

	// Every promise has run, so acked + failed = read.
	read, acked, failed := tally.read.Load(), tally.acked.Load(), tally.failed.Load()
	summary := fmt.Sprintf("produced %d of %d records to %s", acked, read, topic)
	if outcome != "" {
		summary += "; transaction " + f.transactional + " " + outcome
	}
	if interrupted {
		summary += " (interrupted)"
	}
	fmt.Fprintln(cmd.ErrOrStderr(), summary)

	var errs []error
	if readErr != nil {
		errs = append(errs, fmt.Errorf("read stdin: %w", readErr))
	}
	if failed > 0 {
		errs = append(errs, fmt.Errorf("%d records failed, the first with: %w", failed, tally.firstErr))
	}
	switch {
	case txnErr != nil:
		errs = append(errs, txnErr)
	case outcome == "aborted":
		errs = append(errs, errors.New("transaction aborted: nothing was committed"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("produce failed: %w", errors.Join(errs...))
	}
	return nil
}

// record turns one input line into a record.
func (f *produceFlags) record(topic string, line []byte) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: line, Partition: f.partition}
	if f.keySeparator != "" {
		if k, v, ok := bytes.Cut(line, []byte(f.keySeparator)); ok {
			r.Key, r.Value = k, v
		}
	}
	return r
}

// endTransaction commits the transaction if ok, else aborts it, and says which happened;
// written says whether the broker acknowledged any record of it. It does not use ctx's
// cancellation: an interrupted command must still abort.
func (f *produceFlags) endTransaction(ctx context.Context, cl *kgo.Client, ok, written bool) (string, error) {
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.conn.timeout)
	defer cancel()
	if ok {
		err := cl.EndTransaction(endCtx, kgo.TryCommit)
		if err == nil && written {
			err = f.settleEnd(endCtx, cl, true)
		}
		if err == nil {
			return "committed", nil
		}
		// An unconfirmed commit is settled by aborting, which fences what is left.
		if abortErr := cl.EndTransaction(endCtx, kgo.TryAbort); abortErr != nil {
			return "in an unknown state", fmt.Errorf("commit transaction: %w; then abort: %w", err, abortErr)
		}
		return "aborted", fmt.Errorf("commit transaction: %w", err)
	}
	err := cl.AbortBufferedRecords(endCtx)
	if err == nil {
		err = cl.EndTransaction(endCtx, kgo.TryAbort)
	}
	if err == nil && written {
		err = f.settleEnd(endCtx, cl, false)
	}
	if err != nil {
		return "in an unknown state", fmt.Errorf("abort transaction: %w", err)
	}
	return "aborted", nil
}

// settleEnd sends EndTxn itself once kgo's EndTransaction has returned: franz-go v1.22.3
// sometimes returns without sending it when the transaction's first records waited for
// their topic's metadata (EndTransaction reads the topic's partitions before the metadata
// update publishes them), which leaves the transaction open on the broker until it times
// out or the next producer with the ID aborts it. A repeated EndTxn of a transaction that
// already ended the same way is answered with success, so this changes nothing when kgo
// did send it. An abort may find no transaction at all (nothing reached the broker).
func (f *produceFlags) settleEnd(ctx context.Context, cl *kgo.Client, commit bool) error {
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("producer id: %w", err)
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = f.transactional, id, epoch, commit
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	err = kerr.ErrorForCode(resp.ErrorCode)
	if err != nil && !(errors.Is(err, kerr.InvalidTxnState) && !commit) {
		return fmt.Errorf("end transaction: %w", err)
	}
	return nil
}

// readLines calls fn with each line of in, without its line ending, until end of input
// or ctx ends. fn owns the line. Reading happens in a goroutine so that Ctrl-C is
// noticed while stdin blocks; after an interruption that goroutine stays blocked until
// the process exits.
func readLines(ctx context.Context, in io.Reader, fn func([]byte)) error {
	lines := make(chan []byte, 256)
	done := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes)
		for sc.Scan() {
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
				return
			}
		}
		done <- sc.Err()
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				select {
				case err := <-done:
					return err
				default: // the reader gave up because ctx ended
					return nil
				}
			}
			fn(line)
		case <-ctx.Done():
			return nil
		}
	}
}
