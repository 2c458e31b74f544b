package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestEndTxnCommitAndAbort(t *testing.T) {
	for _, commit := range []bool{true, false} {
		e := newEnv(t, nil)
		pid, epoch := e.init("x")
		e.mustAdd("x", pid, epoch, tp("b", 2), tp("a", 1), tp("a", 0))
		if code := e.addOffsets(3, "x", pid, epoch, "g2"); code != 0 {
			t.Fatal(code)
		}
		if code := e.addOffsets(3, "x", pid, epoch, "g1"); code != 0 {
			t.Fatal(code)
		}
		if code := e.end(3, "x", pid, epoch, commit); code != 0 {
			t.Fatalf("EndTxn(commit=%v): %d", commit, code)
		}
		want := []markerCall{
			{pid: pid, epoch: epoch, commit: commit, parts: []TopicPartition{tp("a", 0), tp("a", 1), tp("b", 2)}},
			{group: "g1", pid: pid, commit: commit},
			{group: "g2", pid: pid, commit: commit},
		}
		if calls := e.markers.take(); !equalCalls(calls, want) {
			t.Fatalf("commit=%v: calls %+v, want %+v", commit, calls, want)
		}
		wantState, other := "CompleteAbort", true
		if commit {
			wantState, other = "CompleteCommit", false
		}
		if st := e.describe("x"); st.State != wantState || len(st.Topics) != 0 || st.ProducerEpoch != epoch {
			t.Fatalf("after EndTxn: %+v", st)
		}
		// A retry of the same outcome succeeds without markers; the other is refused.
		if code := e.end(3, "x", pid, epoch, commit); code != 0 {
			t.Fatalf("retry: %d", code)
		}
		if code := e.end(3, "x", pid, epoch, other); code != kerr.InvalidTxnState.Code {
			t.Fatalf("opposite outcome: %d", code)
		}
		if calls := e.markers.take(); len(calls) != 0 {
			t.Fatalf("retries wrote %+v", calls)
		}
		// The next transaction starts fresh.
		e.clock.advance(time.Second)
		e.mustAdd("x", pid, epoch, tp("c", 0))
		if st := e.describe("x"); st.State != "Ongoing" || st.StartTimestamp != e.clock.Now().UnixMilli() || len(st.Topics) != 1 {
			t.Fatalf("next transaction: %+v", st)
		}
	}
}

func TestEndTxnErrors(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	for _, tc := range []struct {
		name    string
		version int16
		id      string
		pid     int64
		epoch   int16
		want    int16
	}{
		{"empty id", 3, "", pid, epoch, kerr.InvalidRequest.Code},
		{"unknown id", 3, "nope", pid, epoch, kerr.InvalidProducerIDMapping.Code},
		{"other producer", 3, "x", pid + 1, epoch, kerr.InvalidProducerIDMapping.Code},
		{"wrong epoch v2", 2, "x", pid, epoch + 3, kerr.ProducerFenced.Code},
		{"wrong epoch v1", 1, "x", pid, epoch + 3, kerr.InvalidProducerEpoch.Code},
		// Nothing was added: nothing to end.
		{"empty transaction", 3, "x", pid, epoch, 0},
	} {
		if got := e.end(tc.version, tc.id, tc.pid, tc.epoch, true); got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
	if calls := e.markers.take(); len(calls) != 0 {
		t.Fatalf("markers written: %+v", calls)
	}
}

func TestEndTxnOffsetsOnly(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	if code := e.addOffsets(3, "x", pid, epoch, "g"); code != 0 {
		t.Fatal(code)
	}
	if code := e.end(3, "x", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	want := []markerCall{{group: "g", pid: pid, commit: true}}
	if calls := e.markers.take(); !equalCalls(calls, want) {
		t.Fatalf("calls %+v, want %+v", calls, want)
	}
}

func TestEndTxnMarkerFailureIsRetried(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	e.markers.setFail(errInjected)
	if code := e.end(3, "x", pid, epoch, true); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("EndTxn with failing markers: %d", code)
	}
	if got := e.state("x"); got != "PrepareCommit" {
		t.Fatalf("state %s", got)
	}
	// The decision stands: another outcome is refused, other requests wait.
	if code := e.end(3, "x", pid, epoch, false); code != kerr.InvalidTxnState.Code {
		t.Fatalf("abort of a decided commit: %d", code)
	}
	if code := e.add("x", pid, epoch, tp("t", 1))[tp("t", 1)]; code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("add during the commit: %d", code)
	}
	if err := e.checkProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("produce during the commit: %v", err)
	}
	e.markers.setFail(nil)
	if code := e.end(3, "x", pid, epoch, true); code != 0 {
		t.Fatalf("retried commit: %d", code)
	}
	if got := e.state("x"); got != "CompleteCommit" {
		t.Fatalf("state %s", got)
	}
	if calls := e.markers.take(); len(calls) != 1 || !calls[0].commit {
		t.Fatalf("calls %+v", calls)
	}
}

// While markers are written the ID's lock is free: other requests for it answer
// CONCURRENT_TRANSACTIONS, and other IDs are not held up.
func TestEndTxnConcurrentRequests(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	pidY, epochY := e.init("y")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	e.mustAdd("y", pidY, epochY, tp("t", 1))
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	e.markers.mu.Lock()
	e.markers.block, e.markers.entered = block, entered
	e.markers.mu.Unlock()
	done := make(chan int16)
	go func() { done <- e.end(3, "x", pid, epoch, true) }()
	<-entered

	if code := e.end(3, "x", pid, epoch, true); code != kerr.ConcurrentTransactions.Code {
		t.Errorf("EndTxn retry during markers: %d", code)
	}
	if r := e.initReq(4, "x", 1000, -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Errorf("InitProducerID during markers: %d", r.ErrorCode)
	}
	if code := e.addOffsets(3, "x", pid, epoch, "g"); code != kerr.ConcurrentTransactions.Code {
		t.Errorf("AddOffsetsToTxn during markers: %d", code)
	}
	if st := e.describe("x"); st.State != "PrepareCommit" {
		t.Errorf("describe during markers: %s", st.State)
	}
	if err := e.checkProduce("y", pidY, epochY, tp("t", 1)); err != nil {
		t.Errorf("another id is held up: %v", err)
	}
	// An EndTxn whose client went away still leaves the decision to be finished.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if code := e.endCtx(ctx, 3, "y", pidY, epochY, false); code != kerr.ConcurrentTransactions.Code {
		t.Errorf("cancelled EndTxn: %d", code)
	}
	close(block)
	if code := <-done; code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	if got := e.state("x"); got != "CompleteCommit" {
		t.Fatalf("state %s", got)
	}
	if code := e.end(3, "y", pidY, epochY, false); code != 0 {
		t.Fatalf("finishing y: %d", code)
	}
}
