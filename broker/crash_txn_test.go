package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// crashTxnTopics are the topics every transaction of the crash test writes to: two
// records in each of their partitions, so that a transaction spans topics and partitions.
var crashTxnTopics = []struct {
	name  string
	parts int32
}{{"crash-txn-a", 3}, {"crash-txn-b", 2}}

// crashTxnSize is how many records a transaction of the crash test writes.
const crashTxnSize = 2 * (3 + 2)

// crashTxnEnd is what the producer of a transaction knows of how it ended.
type crashTxnEnd int

const (
	// crashTxnOpen: the producer never asked to end it (it was still producing, or was
	// left open on purpose). The coordinator must abort it after the restart.
	crashTxnOpen crashTxnEnd = iota
	// crashTxnAborted: the producer asked to abort it, successfully or not.
	crashTxnAborted
	// crashTxnCommitted: EndTxn(commit) succeeded.
	crashTxnCommitted
	// crashTxnCommitUnknown: the producer asked to commit it and got no answer. Either
	// outcome is right, but all or nothing.
	crashTxnCommitUnknown
)

func (e crashTxnEnd) String() string {
	return [...]string{"open", "aborted", "committed", "commit unknown"}[e]
}

// crashTxn is one transaction of the crash test as its producer saw it.
type crashTxn struct {
	end crashTxnEnd
	at  map[string]recordPos // where each record was acknowledged, once the produce succeeded
}

// crashTxnRecords returns the records of the transaction named key.
func crashTxnRecords(key string) []*kgo.Record {
	var rs []*kgo.Record
	for _, tp := range crashTxnTopics {
		for p := range tp.parts {
			for i := range 2 {
				v := fmt.Sprintf("%s/%s-%d-%d", key, tp.name, p, i)
				rs = append(rs, &kgo.Record{Topic: tp.name, Partition: p, Value: []byte(v)})
			}
		}
	}
	return rs
}

// TestCrashTxnKillDuringTransactions kills a broker (fsync=always) that several
// transactional producers are committing, aborting and holding transactions open
// against, restarts it on the same directory and does that again a few times, with the
// kill landing at different points. After every restart, under read_committed: each
// transaction whose commit was acknowledged is wholly visible where it was acknowledged,
// each aborted or open one is invisible, one whose commit got no answer is wholly
// visible or invisible, and no partition's last stable offset is held back by a
// transaction left hanging.
func TestCrashTxnKillDuringTransactions(t *testing.T) {
	dir := t.TempDir()
	child := startChildBroker(t, dir)
	for _, tp := range crashTxnTopics {
		createTopicAt(t, child.addr, tp.name, tp.parts)
	}
	txns := map[string]*crashTxn{}
	// Commits acknowledged before each kill: the first kill comes early, when the
	// transactional IDs are new, the later ones on IDs with history.
	for round, killAfter := range []int{1, 5, 15, 30, 60} {
		if round > 0 {
			child = startChildBroker(t, dir)
			checkCrashTxns(t, child.addr, txns)
		}
		maps.Copy(txns, runTxnsUntilKilled(t, child, round, killAfter))
	}
	child = startChildBroker(t, dir)
	checkCrashTxns(t, child.addr, txns)
	ends := map[crashTxnEnd]int{}
	for _, tx := range txns {
		ends[tx.end]++
	}
	t.Logf("transactions by what their producers saw: %v", ends)
	if ends[crashTxnCommitted] == 0 || ends[crashTxnAborted] == 0 || ends[crashTxnOpen] == 0 {
		t.Errorf("the load did not commit, abort and leave open transactions: %v", ends)
	}
	child.stop(t)
}

// runTxnsUntilKilled runs transactional producers against child until killAfter commits
// are acknowledged, then SIGKILLs it at a random moment of the load, and returns every
// transaction begun, by name. Producers 0-2 loop, aborting every third transaction;
// producer 3 leaves one transaction open.
func runTxnsUntilKilled(t *testing.T, child *childBroker, round, killAfter int) map[string]*crashTxn {
	t.Helper()
	const (
		looping = 3
		maxTxns = 2000 // bounds the load if the kill comes late
	)
	// The producers touch only these, under mu; the result is a copy.
	var (
		mu        sync.Mutex
		txns      = map[string]*crashTxn{}
		committed atomic.Int64
	)
	setEnd := func(key string, end crashTxnEnd) {
		mu.Lock()
		defer mu.Unlock()
		txns[key].end = end
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// txn runs one transaction named key and ends it as asked (or not at all); it
	// reports whether the producer can go on.
	txn := func(cl *kgo.Client, key string, commit, end bool) bool {
		if err := cl.BeginTransaction(); err != nil {
			return false
		}
		mu.Lock()
		txns[key] = &crashTxn{end: crashTxnOpen}
		mu.Unlock()
		res := cl.ProduceSync(ctx, crashTxnRecords(key)...)
		if res.FirstErr() != nil {
			return false
		}
		mu.Lock()
		txns[key].at = map[string]recordPos{}
		for _, r := range res {
			txns[key].at[string(r.Record.Value)] = recordPos{r.Record.Partition, r.Record.Offset}
		}
		mu.Unlock()
		if !end {
			return true
		}
		if !commit {
			setEnd(key, crashTxnAborted)
			return cl.EndTransaction(ctx, kgo.TryAbort) == nil
		}
		setEnd(key, crashTxnCommitUnknown)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return false
		}
		setEnd(key, crashTxnCommitted)
		committed.Add(1)
		return true
	}

	clients := make([]*kgo.Client, looping+1)
	for i := range clients {
		clients[i] = addrClient(t, child.addr,
			kgo.TransactionalID(fmt.Sprintf("crash-txn-%d", i)),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RecordDeliveryTimeout(5*time.Second),
		)
	}
	// The open transaction is in the log before the load starts.
	if !txn(clients[looping], fmt.Sprintf("r%d/open", round), false, false) {
		t.Fatalf("round %d: the transaction left open could not be produced\n%s", round, child.output.String())
	}
	var wg sync.WaitGroup
	for g := range looping {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxTxns && ctx.Err() == nil; i++ {
				if !txn(clients[g], fmt.Sprintf("r%d/p%d/t%04d", round, g, i), i%3 != 2, true) {
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for committed.Load() < int64(killAfter) {
		if time.Now().After(deadline) {
			t.Fatalf("round %d: only %d commits acknowledged in 20s\n%s", round, committed.Load(), child.output.String())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond) // land the kill at a random point of the load
	child.kill(t)
	var exit *exec.ExitError
	if !errors.As(child.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child broker was not killed by SIGKILL: %v", child.err)
	}
	cancel()
	// Records already sent to the dead broker stay in flight past the context and the
	// delivery timeout; closing the clients fails them and ends the producers' waits.
	for _, cl := range clients {
		cl.Close()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("round %d: %d transactions begun, %d commits acknowledged before the kill", round, len(txns), committed.Load())
	return maps.Clone(txns)
}

var crashSentinelSeq atomic.Int64

// checkCrashTxns waits for every partition's last stable offset to reach its high
// watermark, then reads all the topics under read_committed and checks each transaction
// against what its producer saw.
func checkCrashTxns(t *testing.T, addr string, txns map[string]*crashTxn) {
	t.Helper()
	for _, tp := range crashTxnTopics {
		waitStable(t, addr, tp.name)
	}

	// A plain record after everything in every partition marks the end of the read; a
	// read_committed reader only gets it once nothing before it is pending.
	sentinel := fmt.Sprintf("sentinel-%d", crashSentinelSeq.Add(1))
	var marks []*kgo.Record
	offsets := map[string]map[int32]kgo.Offset{}
	for _, tp := range crashTxnTopics {
		offsets[tp.name] = map[int32]kgo.Offset{}
		for p := range tp.parts {
			marks = append(marks, &kgo.Record{Topic: tp.name, Partition: p, Value: []byte(sentinel)})
			offsets[tp.name][p] = kgo.NewOffset().AtStart()
		}
	}
	plain := addrClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(testCtx(t, 10*time.Second), marks...).FirstErr(); err != nil {
		t.Fatalf("produce sentinels: %v", err)
	}

	cl := addrClient(t, addr, kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx := testCtx(t, 15*time.Second)
	seen := map[string]recordPos{}
	perTxn := map[string]int{}
	done := 0
	for done < len(marks) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed: sentinels read in %d of %d partitions after 15s", done, len(marks))
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("read_committed %s-%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			switch {
			case v == sentinel:
				done++
				return
			case strings.HasPrefix(v, "sentinel-"):
				return
			}
			if prev, dup := seen[v]; dup {
				t.Errorf("record %s read twice: at %v and %d/%d", v, prev, r.Partition, r.Offset)
			}
			seen[v] = recordPos{r.Partition, r.Offset}
			key := v[:strings.LastIndexByte(v, '/')]
			if _, ok := txns[key]; !ok {
				t.Errorf("record %s of an unknown transaction", v)
			}
			perTxn[key]++
		})
	}

	for key, tx := range txns {
		n := perTxn[key]
		switch {
		case n != 0 && n != crashTxnSize:
			t.Errorf("transaction %s (%v) is half visible: %d of its %d records", key, tx.end, n, crashTxnSize)
		case tx.end == crashTxnCommitted && n == 0:
			t.Errorf("transaction %s was committed but is not visible", key)
		case (tx.end == crashTxnAborted || tx.end == crashTxnOpen) && n > 0:
			t.Errorf("transaction %s was %v but is visible", key, tx.end)
		}
		if n == 0 {
			continue
		}
		for v, pos := range tx.at {
			if got := seen[v]; got != pos {
				t.Errorf("record %s acknowledged at %v, read at %v", v, pos, got)
			}
		}
	}
}
