package txn

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func fastLoop(o *Options) {
	o.AbortInterval = 2 * time.Millisecond
	o.IDExpiration = time.Hour
}

func TestTimeoutAbortsWithEpochBump(t *testing.T) {
	e := newEnv(t, fastLoop)
	pid, epoch := e.init("x") // 30s timeout
	e.mustAdd("x", pid, epoch, tp("t", 0))
	if code := e.addOffsets(3, "x", pid, epoch, "g"); code != 0 {
		t.Fatal(code)
	}
	pidY, epochY := e.init("y")
	e.clock.advance(20 * time.Second)
	e.mustAdd("y", pidY, epochY, tp("t", 1)) // starts later: not due with x

	time.Sleep(20 * time.Millisecond)
	if got := e.state("x"); got != "Ongoing" {
		t.Fatalf("aborted before its timeout: %s", got)
	}
	e.clock.advance(10*time.Second + time.Millisecond)
	waitFor(t, "timeout abort", func() bool { return e.state("x") == "CompleteAbort" })
	want := []markerCall{
		{pid: pid, epoch: epoch + 1, commit: false, parts: []TopicPartition{tp("t", 0)}},
		{group: "g", pid: pid, commit: false},
	}
	if calls := e.markers.take(); !equalCalls(calls, want) {
		t.Fatalf("calls %+v, want %+v", calls, want)
	}
	if got := e.state("y"); got != "Ongoing" {
		t.Fatalf("y: %s", got)
	}
	// The producer is fenced, recoverably (KIP-588): its epoch is INVALID_PRODUCER_EPOCH
	// and InitProducerID with its old pair gives it a newer epoch.
	if err := e.checkProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("produce after the timeout: %v", err)
	}
	if code := e.end(3, "x", pid, epoch, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("commit after the timeout: %d", code)
	}
	r := e.initReq(4, "x", 30_000, pid, epoch)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+2 {
		t.Fatalf("recovery: %+v", r)
	}
}

func TestLoopRetriesFailedMarkers(t *testing.T) {
	e := newEnv(t, fastLoop)
	pid, epoch := e.init("x")
	e.mustAdd("x", pid, epoch, tp("t", 0))
	e.markers.setFail(errInjected)
	if code := e.end(3, "x", pid, epoch, true); code != kerr.ConcurrentTransactions.Code {
		t.Fatal(code)
	}
	time.Sleep(10 * time.Millisecond)
	e.markers.setFail(nil)
	waitFor(t, "the loop to finish the commit", func() bool { return e.state("x") == "CompleteCommit" })
	if calls := e.markers.take(); len(calls) != 1 || !calls[0].commit || calls[0].epoch != epoch {
		t.Fatalf("calls %+v", calls)
	}
}

func TestIDExpiration(t *testing.T) {
	e := newEnv(t, fastLoop)
	pid, epoch := e.init("idle")
	pidB, epochB := e.init("busy")
	e.mustAdd("busy", pidB, epochB, tp("t", 0))
	pidC, epochC := e.init("committed")
	e.mustAdd("committed", pidC, epochC, tp("t", 1))
	if code := e.end(3, "committed", pidC, epochC, true); code != 0 {
		t.Fatal(code)
	}
	// "busy" has a transaction open longer than any expiration; move its timeout out
	// of the way so that only expiration is tested.
	tx, _ := e.c.lockTxn("busy", false)
	tx.m.timeout = 10 * time.Hour
	tx.mu.Unlock()
	e.clock.advance(time.Hour + time.Second)
	waitFor(t, "expiration", func() bool { return e.state("idle") == "" && e.state("committed") == "" })
	if got := e.state("busy"); got != "Ongoing" {
		t.Fatalf("an id in a transaction expired: %s", got)
	}
	e.reopen()
	for _, id := range []string{"idle", "committed"} {
		if got := e.state(id); got != "" {
			t.Fatalf("%s came back after restart: %s", id, got)
		}
	}
	// An expired ID's producer is unknown; initialising again starts over.
	if code := e.end(3, "idle", pid, epoch, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("EndTxn of an expired id: %d", code)
	}
	if r := e.initReq(4, "idle", 1000, pid, epoch); r.ErrorCode != 0 || r.ProducerID == pid || r.ProducerEpoch != 0 {
		t.Fatalf("init of an expired id: %+v", r)
	}
}
