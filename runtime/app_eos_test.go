package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// eosConfig is appConfig under exactly-once with the default commit interval.
func eosConfig(t *testing.T, addr, appID, stateDir string) runtime.Config {
	cfg := appConfig(t, addr, appID, stateDir)
	cfg.ProcessingGuarantee = runtime.ExactlyOnce
	cfg.CommitInterval = 0
	return cfg
}

// transfers is the balance job: a transfer "from,to,amount" keyed by its ID moves
// amount between two accounts; store "balances" keeps each account's balance and
// every change goes to topic "balances". fail, if set, may fail a transfer by ID.
func transfers(t *testing.T, fail func(id string) error) *runtime.Topology {
	t.Helper()
	b := dsl.NewBuilder()
	b.Stream("transfers", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		Process(runtime.ProcessorFunc[string, string, string, int64](func(ctx runtime.ProcessorContext[string, int64], r runtime.Record[string, string]) error {
			if fail != nil {
				if err := fail(r.Key); err != nil {
					return err
				}
			}
			from, to, amount, err := parseTransfer(r.Value)
			if err != nil {
				return err
			}
			debit := runtime.Record[string, int64]{Key: from, Value: -amount, Timestamp: r.Timestamp}
			credit := runtime.Record[string, int64]{Key: to, Value: amount, Timestamp: r.Timestamp}
			return errors.Join(ctx.Forward(debit), ctx.Forward(credit))
		}).Supplier()).
		GroupByKey(dsl.Grouped[string, int64]{Name: "accounts", Keys: serde.String(), Values: serde.Int64()}).
		Aggregate(func() int64 { return 0 }, func(_ string, v, agg int64) int64 { return agg + v },
			dsl.Materialized[string, int64]{Name: "balances", Values: serde.Int64()}).
		ToStream().
		To("balances")
	top, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func parseTransfer(v string) (from, to string, amount int64, err error) {
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return "", "", 0, fmt.Errorf("bad transfer %q", v)
	}
	amount, err = strconv.ParseInt(parts[2], 10, 64)
	return parts[0], parts[1], amount, err
}

// transferBatch makes transfers from..from+n-1 between accounts, deterministically.
func transferBatch(from, n int) (ids, values []string) {
	for i := from; i < from+n; i++ {
		a, b := i*7%accounts, (i*13+5)%accounts
		if a == b {
			b = (b + 1) % accounts
		}
		ids = append(ids, fmt.Sprintf("t%06d", i))
		values = append(values, fmt.Sprintf("acct%02d,acct%02d,%d", a, b, i%50+1))
	}
	return ids, values
}

const accounts = 17

// produceKeyed writes values keyed by keys to topic.
func produceKeyed(t *testing.T, addr, topic string, keys, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: []byte(keys[i]), Value: []byte(v)}
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// expectedDeltas is what the balance job must write for transfer values: per account
// the multiset of balance changes, as a sorted list.
func expectedDeltas(values []string) map[string][]int64 {
	out := map[string][]int64{}
	for _, v := range values {
		from, to, amount, _ := parseTransfer(v)
		out[from] = append(out[from], -amount)
		out[to] = append(out[to], amount)
	}
	for _, d := range out {
		slices.Sort(d)
	}
	return out
}

// committedReader reads topics from the start with read_committed.
type committedReader struct {
	cl   *kgo.Client
	recs []*kgo.Record
}

func newCommittedReader(t *testing.T, addr string, topics ...string) *committedReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &committedReader{cl: cl}
}

// until polls until done holds for everything read, failing after appTestTimeout
// with what describe says.
func (r *committedReader) until(t *testing.T, done func([]*kgo.Record) bool, describe func([]*kgo.Record) string) {
	t.Helper()
	ctx := testCtx(t)
	for !done(r.recs) {
		fetches := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("never got there: %s", describe(r.recs))
		}
		fetches.EachRecord(func(rec *kgo.Record) { r.recs = append(r.recs, rec) })
	}
}

// settle keeps reading for d, so that a late duplicate would show.
func (r *committedReader) settle(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		r.cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) { r.recs = append(r.recs, rec) })
	}
}

// balanceDeltas turns the balance records read into each account's changes (sorted)
// and final balance.
func balanceDeltas(t *testing.T, recs []*kgo.Record) (map[string][]int64, map[string]int64) {
	t.Helper()
	values := serde.Nullable(serde.Int64())
	deltas, last := map[string][]int64{}, map[string]int64{}
	for _, r := range recs {
		v, err := values.Decode(r.Value)
		if err != nil || v == nil {
			t.Fatalf("balance record %q=%q: %v", r.Key, r.Value, err)
		}
		k := string(r.Key)
		deltas[k] = append(deltas[k], *v-last[k])
		last[k] = *v
	}
	for _, d := range deltas {
		slices.Sort(d)
	}
	return deltas, last
}

// checkBalances reads topic "balances" until every transfer of values shows, then a
// little more, and checks that each account's changes are exactly those of the
// transfers: one per transfer leg, none twice, none missing.
func checkBalances(t *testing.T, r *committedReader, values []string) {
	t.Helper()
	want := expectedDeltas(values)
	legs := 2 * len(values)
	r.until(t, func(recs []*kgo.Record) bool { return len(recs) >= legs }, func(recs []*kgo.Record) string {
		return fmt.Sprintf("%d balance changes of %d", len(recs), legs)
	})
	r.settle(500 * time.Millisecond)
	got, _ := balanceDeltas(t, r.recs)
	if len(r.recs) != legs || !maps.EqualFunc(got, want, slices.Equal[[]int64]) {
		for acct := range want {
			if !slices.Equal(got[acct], want[acct]) {
				t.Errorf("account %s: %d changes, want %d", acct, len(got[acct]), len(want[acct]))
			}
		}
		t.Fatalf("read %d balance changes for %d transfer legs", len(r.recs), legs)
	}
}

// checkWordCounts reads topic "word-counts" until the counts of lines show, then a
// little more, and checks that each word's counts went 1, 2, ... n, each once.
func checkWordCounts(t *testing.T, r *committedReader, lines []string) {
	t.Helper()
	want := expectedCounts(lines...)
	total := int64(0)
	for _, n := range want {
		total += n
	}
	r.until(t, func(recs []*kgo.Record) bool { return int64(len(recs)) >= total }, func(recs []*kgo.Record) string {
		return fmt.Sprintf("%d counts of %d", len(recs), total)
	})
	r.settle(500 * time.Millisecond)
	values := serde.Nullable(serde.Int64())
	seqs := map[string][]int64{}
	for _, rec := range r.recs {
		v, err := values.Decode(rec.Value)
		if err != nil || v == nil {
			t.Fatalf("count %q=%q: %v", rec.Key, rec.Value, err)
		}
		seqs[string(rec.Key)] = append(seqs[string(rec.Key)], *v)
	}
	for w, n := range want {
		seq := seqs[w]
		for i, v := range seq {
			if v != int64(i+1) {
				t.Fatalf("word %q: counts %v, want 1..%d", w, seq, n)
			}
		}
		if int64(len(seq)) != n {
			t.Fatalf("word %q: counts %v, want 1..%d", w, seq, n)
		}
	}
	if int64(len(r.recs)) != total {
		t.Fatalf("read %d counts, want %d", len(r.recs), total)
	}
}

// The word count under exactly-once, with a second instance joining midway: every
// count of every word is committed exactly once.
func TestEOSWordCount(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "lines", 4)
		createTopic(t, addr, "word-counts", 1)
		cfg := eosConfig(t, addr, "eoswc", t.TempDir())
		cfg.Threads = 2
		startApp(t, wordCount(t, false), cfg)
		r := newCommittedReader(t, addr, "word-counts")
		first := lines(0, 200)
		produce(t, addr, "lines", first...)
		startApp(t, wordCount(t, true), eosConfig(t, addr, "eoswc", t.TempDir()))
		second := lines(200, 200)
		produce(t, addr, "lines", second...)
		checkWordCounts(t, r, append(first, second...))
	})
}

// The balance job under exactly-once with two threads: each transfer changes both
// balances exactly once, and the state matches.
func TestEOSTransfers(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "transfers", 4)
		createTopic(t, addr, "balances", 2)
		cfg := eosConfig(t, addr, "eostx", t.TempDir())
		cfg.Threads = 2
		app := startApp(t, transfers(t, nil), cfg)
		r := newCommittedReader(t, addr, "balances")
		ids, values := transferBatch(0, 3000)
		produceKeyed(t, addr, "transfers", ids, values)
		checkBalances(t, r, values)
		checkStore(t, app.app, values)
	})
}

// checkStore compares store "balances" of app with the balances values make.
func checkStore(t *testing.T, app *runtime.App, values []string) {
	t.Helper()
	want := map[string]int64{}
	for _, v := range values {
		from, to, amount, _ := parseTransfer(v)
		want[from] -= amount
		want[to] += amount
	}
	got := map[string]int64{}
	for deadline := time.Now().Add(appTestTimeout); ; time.Sleep(50 * time.Millisecond) {
		store, err := app.QueryKeyValueStore[string, int64]("balances", serde.String())
		if err == nil {
			for acct := range want {
				v, found, gerr := store.Get(acct)
				if gerr != nil || !found {
					err = errors.Join(err, gerr, fmt.Errorf("account %s not found", acct))
				}
				got[acct] = v
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query store balances: %v", err)
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("store balances %v, want %v", got, want)
	}
}

// A processor failing midway under exactly-once: the thread's open transaction
// aborts and the application stops; restarted on the same state, it resumes from
// the last commit (the state rolled back with it, restoring nothing) and every
// transfer counts once.
func TestEOSAbortOnProcessingError(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "transfers", 2)
		createTopic(t, addr, "balances", 1)
		dir := t.TempDir()
		poison := errors.New("injected failure")
		var seen atomic.Int64
		fail := func(string) error {
			if seen.Add(1) == 2000 {
				return poison
			}
			return nil
		}
		cfg := eosConfig(t, addr, "eosabort", dir)
		r := newCommittedReader(t, addr, "balances")
		failing := startApp(t, transfers(t, fail), cfg)
		ids, values := transferBatch(0, 1000)
		produceKeyed(t, addr, "transfers", ids, values)
		checkBalances(t, r, values) // committed: the failure comes after a commit
		ids, values = transferBatch(0, 3000)
		produceKeyed(t, addr, "transfers", ids[1000:], values[1000:])
		if err := failing.wait(t); !errors.Is(err, poison) {
			t.Fatalf("Run returned %v, want the injected failure", err)
		}
		if err := failing.close(t); !errors.Is(err, poison) {
			t.Fatalf("close: Run returned %v", err)
		}
		// What the failed run committed is a prefix of each partition's transfers.
		r.settle(300 * time.Millisecond)
		before := len(r.recs)
		if before >= 2*len(values) || before < 2000 {
			t.Fatalf("the failed run committed %d balance changes, want from 2000 to %d", before, 2*len(values))
		}

		l := newCountingListener()
		cfg.RestoreListener = l
		app := startApp(t, transfers(t, nil), cfg)
		checkBalances(t, r, values)
		checkStore(t, app.app, values)
		t.Logf("failed run committed %d of %d balance changes; the restart restored %d records", before, 2*len(values), l.total.Load())
		if n := l.total.Load(); n > 0 {
			t.Errorf("restart restored %d records: the store should have been at its last commit", n)
		}
	})
}

// countingListener counts the records restored and notes the lowest offset a
// restore started from.
type countingListener struct {
	total    atomic.Int64
	mu       sync.Mutex
	minStart int64 // -1 before any restore
}

func newCountingListener() *countingListener { return &countingListener{minStart: -1} }

func (l *countingListener) OnRestoreStart(_ runtime.TopicPartition, _ string, start, _ int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.minStart < 0 || start < l.minStart {
		l.minStart = start
	}
}
func (l *countingListener) OnBatchRestored(_ runtime.TopicPartition, _ string, _ int64, n int) {
	l.total.Add(int64(n))
}
func (l *countingListener) OnRestoreEnd(runtime.TopicPartition, string, int64) {}

// Two instances with the same process ID (a copied state directory): the second's
// producers fence the first's, whose Run fails with ErrFenced, and nothing the fenced
// one wrote afterwards is committed: the transfers count once.
func TestEOSFencedZombie(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "transfers", 2)
		createTopic(t, addr, "balances", 1)
		dirA, dirB := t.TempDir(), t.TempDir()
		r := newCommittedReader(t, addr, "balances")
		zombie := startApp(t, transfers(t, nil), eosConfig(t, addr, "eosfence", dirA))
		ids, values := transferBatch(0, 1000)
		produceKeyed(t, addr, "transfers", ids, values)
		r.until(t, func(recs []*kgo.Record) bool { return len(recs) > 0 }, func([]*kgo.Record) string { return "no output" })

		id, err := os.ReadFile(filepath.Join(dirA, "eosfence", ".process-id"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dirB, "eosfence"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, "eosfence", ".process-id"), id, 0o644); err != nil {
			t.Fatal(err)
		}
		startApp(t, transfers(t, nil), eosConfig(t, addr, "eosfence", dirB))
		more := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // input keeps coming while the zombie is fenced
			defer wg.Done()
			defer close(more)
			for i := 1000; i < 3000; i += 250 {
				ids, values := transferBatch(i, 250)
				produceKeyed(t, addr, "transfers", ids, values)
				time.Sleep(50 * time.Millisecond)
			}
		}()
		if err := zombie.wait(t); !errors.Is(err, runtime.ErrFenced) {
			t.Fatalf("zombie's Run returned %v, want ErrFenced", err)
		}
		wg.Wait()
		_, values = transferBatch(0, 3000)
		checkBalances(t, r, values)
	})
}

// An instance stalled in the middle of a transaction (a long pause) is dropped by the
// group, which gives its tasks to another instance. When it wakes up, its commit is
// refused (the group has moved on), so its transaction aborts and it rewinds and
// rejoins, still running; the transfers count once.
func TestEOSStalledZombie(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		createTopic(t, addr, "transfers", 2)
		createTopic(t, addr, "balances", 1)
		var stall atomic.Bool
		wake := make(chan struct{})
		stallOnce := sync.OnceFunc(func() { <-wake })
		fail := func(string) error {
			if stall.Load() {
				stallOnce()
			}
			return nil
		}
		cfgA := eosConfig(t, addr, "eosstall", t.TempDir())
		// The group gives up on a member that does not rejoin within a second.
		cfgA.ClientOptions = append(cfgA.ClientOptions, kgo.RebalanceTimeout(time.Second))
		zombie := startApp(t, transfers(t, fail), cfgA)
		r := newCommittedReader(t, addr, "balances")
		ids, values := transferBatch(0, 1000)
		produceKeyed(t, addr, "transfers", ids, values)
		checkBalances(t, r, values)

		stall.Store(true)
		ids, values = transferBatch(0, 3000)
		produceKeyed(t, addr, "transfers", ids[1000:1200], values[1000:1200])
		cfgB := eosConfig(t, addr, "eosstall", t.TempDir())
		cfgB.ClientOptions = append(cfgB.ClientOptions, kgo.RebalanceTimeout(time.Second))
		startApp(t, transfers(t, nil), cfgB)
		waitMembersWithWork(t, addr, "eosstall", "transfers", 1) // the zombie is out
		produceKeyed(t, addr, "transfers", ids[1200:2000], values[1200:2000])
		close(wake)
		produceKeyed(t, addr, "transfers", ids[2000:], values[2000:])
		checkBalances(t, r, values)
		select {
		case err := <-zombie.done:
			t.Fatalf("the zombie stopped: %v", err)
		default:
		}
	})
}
