// Command transfers is eddy's exactly-once example: bank transfers between accounts,
// with every account's balance kept in a state store and every change of it written to
// a topic, each transfer counted exactly once.
//
// It starts the bundled broker in-process on a free local port, produces a few hundred
// transfer requests keyed by the paying account, runs the application with
//
//	ProcessingGuarantee: runtime.ExactlyOnce
//
// reads the balance updates back with a read_committed consumer, prints the final
// balances and checks them against a sequential computation of the same rules, and
// exits:
//
//	go run ./examples/transfers
//
// The topology:
//
//	b.Stream("transfers", ...).               // key: the paying account
//		GroupByKey().
//		Aggregate(..., approve, ...).      // store "outgoing": what each account paid
//		ToStream().
//		FlatMap(postings).                  // accepted: a debit of the payer, a credit of the payee
//		GroupByKey(...).                    // the key changed: through a repartition topic
//		Aggregate(opening, add, ...).       // store "balances"
//		ToStream().To("balance-updates")
//
// The rule: every account opens with the same balance and may pay out at most that much
// in total; a transfer that would take it over is rejected. An account's transfers sit
// in one partition of "transfers", in order, so the decisions do not depend on how
// partitions interleave or when the credits of other accounts arrive, and no balance
// ever goes below zero.
//
// Each of the two steps commits what it wrote (postings to the repartition topic, or
// balance updates), its store changes and the input offsets it consumed in one
// transaction per thread and commit interval: after a crash either all of them are
// there or none, so a transfer is never debited twice nor lost.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/internal/sandbox"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

const (
	// opening is every account's opening balance, and the most it may pay out.
	opening = 1000
	// count is how many transfers the program produces.
	count = 400
	// waveSize transfers are produced every waveGap.
	waveSize, waveGap = 50, 50 * time.Millisecond
	// partitions of the input and output topics: several tasks, two threads.
	partitions = 4
	// timeout bounds the whole program, so a broken machine fails it instead of hanging.
	timeout = time.Minute
	// quiet is how long the reader waits, once every expected update arrived, for an
	// update that should not exist; several exactly-once commit intervals.
	quiet = 500 * time.Millisecond
)

// errStopped reports an application that stopped before its output was complete; the
// error Run returned is reported beside it.
var errStopped = errors.New("the application stopped before its output was complete")

var accounts = []string{"ada", "bob", "cy", "dee", "eve", "fay", "gus", "hal"}

// transfer asks to move Amount from account From to account To.
type transfer struct {
	ID     int    `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

// outgoing is the state of a paying account: what it paid so far, and the decision on
// its last transfer, which the aggregate's update carries downstream.
type outgoing struct {
	Paid     int64    `json:"paid"`
	Last     transfer `json:"last"`
	Accepted bool     `json:"accepted"`
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transfers:", err)
		os.Exit(1)
	}
}

// topology decides each transfer by its paying account, then posts the accepted ones
// to both accounts' balances.
func topology() (*runtime.Topology, error) {
	b := dsl.NewBuilder()
	b.Stream("transfers", dsl.Consumed[string, transfer]{Keys: serde.String(), Values: serde.JSON[transfer]()}).
		GroupByKey().
		Aggregate(func() outgoing { return outgoing{} }, approve,
			dsl.Materialized[string, outgoing]{Name: "outgoing", Values: serde.JSON[outgoing]()}).
		ToStream().
		FlatMap(postings).
		GroupByKey(dsl.Grouped[string, int64]{Name: "postings", Keys: serde.String(), Values: serde.Int64()}).
		Aggregate(func() int64 { return opening }, func(_ string, amount, balance int64) int64 { return balance + amount },
			dsl.Materialized[string, int64]{Name: "balances", Values: serde.Int64()}).
		ToStream().
		To("balance-updates")
	return b.Build()
}

// approve accepts t if its paying account stays within its opening balance.
func approve(_ string, t transfer, o outgoing) outgoing {
	o.Last, o.Accepted = t, o.Paid+t.Amount <= opening
	if o.Accepted {
		o.Paid += t.Amount
	}
	return o
}

// postings turns an accepted transfer into a debit of the payer and a credit of the
// payee, and a rejected one into nothing.
func postings(_ string, o *outgoing) []dsl.KeyValue[string, int64] {
	if o == nil || !o.Accepted {
		return nil
	}
	return []dsl.KeyValue[string, int64]{dsl.KV(o.Last.From, -o.Last.Amount), dsl.KV(o.Last.To, o.Last.Amount)}
}

// run is the whole program, writing what it shows to out.
func run(ctx context.Context, out io.Writer) (err error) {
	sb, err := sandbox.Start(ctx, "transfers", out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sb.Close()) }()
	if err := sb.CreateTopics(ctx, partitions, "transfers", "balance-updates"); err != nil {
		return err
	}
	sample := transfers()
	want := expect(sample)

	top, err := topology()
	if err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp("", "eddy-transfers-state-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(stateDir)) }()
	running := make(chan struct{})
	var once sync.Once
	app, err := runtime.New(top, runtime.Config{
		ApplicationID:       "transfers",
		BootstrapServers:    []string{sb.Broker.Addr()},
		ProcessingGuarantee: runtime.ExactlyOnce, // transactions; commit interval 100ms
		Threads:             2,                   // a transactional producer each
		StateDir:            stateDir,
		Logger:              slog.New(slog.DiscardHandler),
		StateListener: func(_, s runtime.AppState) {
			if s == runtime.StateRunning {
				once.Do(func() { close(running) })
			}
		},
	})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	defer func() {
		stop()
		err = errors.Join(err, app.Close(context.WithoutCancel(ctx)))
		if runErr := <-done; runErr != nil && !errors.Is(runErr, context.Canceled) {
			err = errors.Join(err, runErr)
		}
	}()

	select { // the transfers arrive while the application runs
	case <-running:
	case err := <-done:
		done <- err // the deferred stop reports it
		return errStopped
	case <-ctx.Done():
		return fmt.Errorf("application not running: %w", ctx.Err())
	}
	if err := produce(ctx, sb.Client, sample); err != nil {
		return err
	}
	fmt.Fprintf(out, "produced %d transfers between %d accounts opening with %d each\n", len(sample), len(accounts), opening)
	got, err := readBalances(ctx, sb.Broker.Addr(), 2*want.accepted, done)
	if err != nil {
		return err
	}
	if got.markers, err = markers(ctx, sb.Client, got.updates); err != nil {
		return err
	}
	return report(out, got, want)
}

// markers counts the offsets of "balance-updates" that hold no update: the markers
// committing the transactions that wrote them (and the records of aborted ones, which
// a run without failures has none of).
func markers(ctx context.Context, cl *kgo.Client, updates int) (int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "balance-updates")
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list end offsets: %w", err)
	}
	n := -int64(updates)
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

// transfers makes the sample: random but the same at every run.
func transfers() []transfer {
	rng := rand.New(rand.NewPCG(8, 2024))
	ts := make([]transfer, count)
	for i := range ts {
		from := rng.IntN(len(accounts))
		to := (from + 1 + rng.IntN(len(accounts)-1)) % len(accounts)
		ts[i] = transfer{ID: i + 1, From: accounts[from], To: accounts[to], Amount: 1 + rng.Int64N(45)}
	}
	return ts
}

// produce writes the transfers keyed by paying account, so that each account's
// transfers are in one partition, in order. They go in waves while the application
// runs, so that it processes them in several transactions.
func produce(ctx context.Context, cl *kgo.Client, ts []transfer) error {
	values := serde.JSON[transfer]()
	for wave := range slices.Chunk(ts, waveSize) {
		recs := make([]*kgo.Record, 0, len(wave))
		for _, t := range wave {
			v, err := values.Encode(t)
			if err != nil {
				return err
			}
			recs = append(recs, &kgo.Record{Topic: "transfers", Key: []byte(t.From), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce transfers: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waveGap):
		}
	}
	return nil
}

// expectation is what the rules give when applied one transfer at a time, apart from
// eddy.
type expectation struct {
	balances           map[string]int64
	accepted, rejected int
}

func expect(ts []transfer) expectation {
	e := expectation{balances: map[string]int64{}}
	paid := map[string]int64{}
	for _, t := range ts {
		if paid[t.From]+t.Amount > opening {
			e.rejected++
			continue
		}
		paid[t.From] += t.Amount
		for _, a := range []string{t.From, t.To} {
			if _, ok := e.balances[a]; !ok {
				e.balances[a] = opening
			}
		}
		e.balances[t.From] -= t.Amount
		e.balances[t.To] += t.Amount
		e.accepted++
	}
	return e
}

// balances is what the read_committed reader saw of "balance-updates".
type balances struct {
	final    map[string]int64 // the last balance of each account
	updates  int              // how many updates were read
	negative []string         // updates that took an account below zero, if any
	markers  int64            // offsets of the topic holding no update
}

// readBalances reads "balance-updates" with read_committed until n updates arrived,
// then for a while longer, so that an update beyond n (a duplicate) would be seen. It
// stops early if the application stops (done) or ctx ends.
func readBalances(ctx context.Context, addr string, n int, done chan error) (balances, error) {
	b := balances{final: map[string]int64{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumeTopics("balance-updates"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), // only what committed transactions wrote
	)
	if err != nil {
		return b, err
	}
	defer cl.Close()
	values := serde.Nullable(serde.Int64())
	var complete time.Time
	for complete.IsZero() || time.Since(complete) < quiet {
		select {
		case err := <-done:
			done <- err // the deferred stop in run reports it
			return b, errStopped
		default:
		}
		pollCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return b, fmt.Errorf("read balance updates: %d of %d: %w", b.updates, n, ctx.Err())
		}
		var decodeErr error
		fs.EachRecord(func(r *kgo.Record) {
			v, err := values.Decode(r.Value)
			if err != nil || v == nil {
				decodeErr = errors.Join(decodeErr, err, fmt.Errorf("balance of %s at offset %d: no value", r.Key, r.Offset))
				return
			}
			b.final[string(r.Key)] = *v
			b.updates++
			if *v < 0 {
				b.negative = append(b.negative, fmt.Sprintf("%s: %d", r.Key, *v))
			}
		})
		if decodeErr != nil {
			return b, fmt.Errorf("decode balance update: %w", decodeErr)
		}
		if b.updates >= n && complete.IsZero() {
			complete = time.Now()
		}
	}
	return b, nil
}

// report prints the final balances beside the expected ones and checks them.
func report(out io.Writer, got balances, want expectation) error {
	fmt.Fprintf(out, "%d accepted, %d rejected (over the payer's opening balance)\n\n", want.accepted, want.rejected)
	fmt.Fprintf(out, "%-7s %8s %8s\n", "account", "balance", "expected")
	var total, wantTotal int64
	var problems []error
	for _, a := range accountsIn(want.balances, got.final) {
		g, w := got.final[a], want.balances[a]
		mark := ""
		if g != w {
			mark = "  <- wrong"
			problems = append(problems, fmt.Errorf("%s: balance %d, expected %d", a, g, w))
		}
		fmt.Fprintf(out, "%-7s %8d %8d%s\n", a, g, w, mark)
		total += g
		wantTotal += w
	}
	fmt.Fprintf(out, "%-7s %8d %8d\n\n", "total", total, wantTotal)
	if opened := int64(opening * len(want.balances)); total != opened {
		problems = append(problems, fmt.Errorf("money not conserved: %d in the accounts, %d opened them", total, opened))
	}
	if got.updates != 2*want.accepted {
		problems = append(problems, fmt.Errorf("%d balance updates, expected %d (a debit and a credit per accepted transfer)", got.updates, 2*want.accepted))
	}
	if got.markers <= 0 {
		problems = append(problems, errors.New("no transaction markers in balance-updates: the output was not written in transactions"))
	}
	if len(got.negative) > 0 {
		problems = append(problems, fmt.Errorf("balances below zero: %v", got.negative))
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	fmt.Fprintf(out, "read_committed: %d balance updates, one debit and one credit per accepted transfer, none twice\n", got.updates)
	fmt.Fprintf(out, "transactions: balance-updates also holds %d commit markers, one per transaction and partition\n", got.markers)
	fmt.Fprintf(out, "money conserved: %d = %d accounts x %d, and every balance is as expected\n", total, len(want.balances), opening)
	return nil
}

// accountsIn returns the accounts of both maps, sorted.
func accountsIn(a, b map[string]int64) []string {
	all := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			all = append(all, k)
		}
	}
	slices.Sort(all)
	return all
}
