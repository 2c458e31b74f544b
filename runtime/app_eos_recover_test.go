package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/runtime"
)

// msgCounter is a slog handler counting the records logged, by message.
type msgCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newMsgCounter() *msgCounter { return &msgCounter{counts: map[string]int{}} }

func (h *msgCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *msgCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}
func (h *msgCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *msgCounter) WithGroup(string) slog.Handler      { return h }

// count returns how many messages starting with prefix were logged.
func (h *msgCounter) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for msg, c := range h.counts {
		if strings.HasPrefix(msg, prefix) {
			n += c
		}
	}
	return n
}

// A transaction that fails to commit, in the three ways the session reports it, makes
// the thread rewind and go on, never stop: offsets refused with an error the session
// treats as abortable (it aborts and reports no commit), offsets refused with an
// error it does not know (it aborts and returns the error), and an EndTxn whose
// outcome it cannot confirm (it reinitializes the producer ID and reports no commit).
// Each time the tasks roll back to their last commit and read again from the
// committed offsets, so every transfer still counts exactly once. kfake answers the
// injected errors.
func TestEOSRewindOnFailedCommit(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	var offsetCommits, endCommits atomic.Int32
	injected := make(chan string, 3)
	refuseOffsets := func(at int32, code int16, name string) {
		c.ControlKey(int16(kmsg.TxnOffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
			if offsetCommits.Add(1) != at {
				return nil, nil, false
			}
			req := kr.(*kmsg.TxnOffsetCommitRequest)
			resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
			for _, rt := range req.Topics {
				st := kmsg.NewTxnOffsetCommitResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			injected <- name
			return resp, nil, true
		})
	}
	refuseOffsets(3, kerr.TransactionAbortable.Code, "abortable offset commit error")
	refuseOffsets(6, kerr.UnknownTopicOrPartition.Code, "unknown offset commit error")
	c.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.EndTxnRequest)
		if !req.Commit || endCommits.Add(1) != 9 {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		injected <- "unconfirmed commit"
		return resp, nil, true
	})

	createTopic(t, addr, "transfers", 2)
	createTopic(t, addr, "balances", 1)
	cfg := eosConfig(t, addr, "eosrewind", t.TempDir())
	logs := newMsgCounter()
	cfg.Logger = slog.New(logs)
	app := startApp(t, transfers(t, nil), cfg)
	r := newCommittedReader(t, addr, "balances")
	ids, values := transferBatch(0, 3000)
	seen := map[string]bool{}
	for i := 0; i < len(ids); i += 100 {
		produceKeyed(t, addr, "transfers", ids[i:i+100], values[i:i+100])
		time.Sleep(60 * time.Millisecond)
		for len(injected) > 0 {
			seen[<-injected] = true
		}
	}
	checkBalances(t, r, values)
	for len(injected) > 0 {
		seen[<-injected] = true
	}
	if len(seen) != 3 {
		t.Fatalf("injected only %v; the job committed %d offsets and %d transactions", seen, offsetCommits.Load(), endCommits.Load())
	}
	checkStore(t, app.app, values)
	select {
	case err := <-app.done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	aborted, failed := logs.count("transaction aborted; rewinding"), logs.count("transaction failed")
	t.Logf("rewound %d times after an aborted commit and %d after a failed one", aborted, failed)
	if aborted < 2 || failed < 1 {
		t.Fatalf("rewound %d times after an aborted commit and %d after a failed one, want 2 and 1", aborted, failed)
	}
}

// An instance restarted with fewer threads fences the transactional IDs of the
// threads it no longer runs: a transaction the predecessor's last thread left open on
// a changelog (here with a timeout of a minute) is aborted at start, instead of
// holding back the restore of that changelog until it times out.
func TestEOSFencesRetiredThreads(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		const appID = "eosretire"
		createTopic(t, addr, "transfers", 2)
		createTopic(t, addr, "balances", 1)
		dir := t.TempDir()
		r := newCommittedReader(t, addr, "balances")
		cfg := eosConfig(t, addr, appID, dir)
		cfg.Threads = 2
		first := startApp(t, transfers(t, nil), cfg)
		ids, values := transferBatch(0, 500)
		produceKeyed(t, addr, "transfers", ids, values)
		checkBalances(t, r, values)
		if err := first.close(t); err != nil {
			t.Fatal(err)
		}

		// The second thread's producer, left with an open transaction on both
		// changelog partitions.
		pid, err := os.ReadFile(filepath.Join(dir, appID, ".process-id"))
		if err != nil {
			t.Fatal(err)
		}
		zombie, err := kgo.NewClient(kgo.SeedBrokers(addr),
			kgo.TransactionalID(appID+"-"+strings.TrimSpace(string(pid))+"-2"),
			kgo.TransactionTimeout(time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer zombie.Close()
		if err := zombie.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			rec := &kgo.Record{Topic: appID + "-balances-changelog", Partition: p, Key: []byte("acct00"), Value: []byte("junk")}
			if err := zombie.ProduceSync(testCtx(t), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}

		cfg.Threads = 1
		app := startApp(t, transfers(t, nil), cfg)
		ids, values = transferBatch(0, 1000)
		produceKeyed(t, addr, "transfers", ids[500:], values[500:])
		checkBalances(t, r, values)
		checkStore(t, app.app, values)
		if err := zombie.EndTransaction(testCtx(t), kgo.TryCommit); err == nil {
			t.Fatal("the retired thread's transaction committed after the restart")
		}
		raw, err := os.ReadFile(filepath.Join(dir, appID, ".eos-threads"))
		if err != nil || strings.TrimSpace(string(raw)) != "1" {
			t.Fatalf("recorded thread count %q (%v), want 1", raw, err)
		}
	})
}

// Standbys under exactly-once: two instances each keep the other's counting task as a
// standby, reading its changelog read_committed (markers and aborted writes skipped).
// When one leaves, the other takes its task over from the standby, restoring only
// the tail, and every count is still committed exactly once.
func TestEOSStandbyFailover(t *testing.T) {
	onBrokers(t, func(t *testing.T, addr string) {
		const parts = 2
		createTopic(t, addr, "lines", parts)
		createTopic(t, addr, "word-counts", 1)
		r := newCommittedReader(t, addr, "word-counts")
		var apps []*running
		var listeners []*tailListener
		for i := range 2 {
			cfg := eosConfig(t, addr, "eoss", t.TempDir())
			cfg.StandbyReplicas = 1
			cfg.ApplicationServer = fmt.Sprintf("127.0.0.1:%d", 10011+i)
			l := &tailListener{restored: map[runtime.TopicPartition]int64{}, started: map[runtime.TopicPartition]bool{}}
			cfg.RestoreListener = l
			listeners = append(listeners, l)
			apps = append(apps, startApp(t, wordCount(t, false), cfg))
		}
		waitMembersWithWork(t, addr, "eoss", "lines", 2)
		first := distinctLines(0, 400)
		produce(t, addr, "lines", first...)
		checkWordCounts(t, r, first)

		// Each counting task runs on one instance and stands by on the other.
		var active map[runtime.TaskID]string
		var standby map[runtime.TaskID][]string
		for deadline := time.Now().Add(appTestTimeout); ; time.Sleep(50 * time.Millisecond) {
			active, standby = standbyMap(apps[0].app.AllMetadata())
			ok := len(active) == 2*parts
			for p := range int32(parts) {
				id := runtime.TaskID{Subtopology: 1, Partition: p}
				ok = ok && len(standby[id]) == 1 && standby[id][0] != active[id]
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("standbys never settled: active %v, standby %v", active, standby)
			}
		}
		ends := changelogEnds(t, adminClient(t, addr), "eoss-counts-changelog")
		time.Sleep(time.Second) // the standbys apply the changelog

		victim := active[runtime.TaskID{Subtopology: 1, Partition: 0}]
		for _, l := range listeners {
			l.arm()
		}
		survivor := -1
		for i, app := range apps {
			if fmt.Sprintf("127.0.0.1:%d", 10011+i) == victim {
				if err := app.close(t); err != nil {
					t.Fatal(err)
				}
			} else {
				survivor = i
			}
		}
		second := lines(0, 50)
		produce(t, addr, "lines", second...)
		checkWordCounts(t, r, append(first, second...))
		l := listeners[survivor]
		l.mu.Lock()
		defer l.mu.Unlock()
		for p := range int32(parts) {
			tp := runtime.TopicPartition{Topic: "eoss-counts-changelog", Partition: p}
			if active[runtime.TaskID{Subtopology: 1, Partition: p}] != victim {
				continue
			}
			t.Logf("partition %d: changelog of %d records, %d restored on failover", p, ends[p], l.restored[tp])
			if ends[p] < 300 || l.restored[tp]*10 > ends[p] {
				t.Errorf("restored %d records of a changelog of %d on failover: want a short tail", l.restored[tp], ends[p])
			}
		}
	})
}
