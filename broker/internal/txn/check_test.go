package txn

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCheckProduceAndOffsetCommit(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	if err := e.checkProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("before a transaction: %v", err)
	}
	e.mustAdd("x", pid, epoch, tp("t", 0))
	if code := e.addOffsets(3, "x", pid, epoch, "g"); code != 0 {
		t.Fatal(code)
	}
	e.init("idle")
	for _, tc := range []struct {
		name  string
		id    string
		pid   int64
		epoch int16
		tp    TopicPartition
		group string
		want  *kerr.Error // nil: allowed
	}{
		{"in transaction", "x", pid, epoch, tp("t", 0), "g", nil},
		{"not added", "x", pid, epoch, tp("t", 1), "h", kerr.InvalidTxnState},
		{"unknown id", "nope", pid, epoch, tp("t", 0), "g", kerr.TransactionalIDNotFound},
		{"other producer id", "x", pid + 1, epoch, tp("t", 0), "g", kerr.InvalidProducerIDMapping},
		{"other epoch", "x", pid, epoch + 1, tp("t", 0), "g", kerr.InvalidProducerEpoch},
		{"id without transaction", "idle", pid + 1, 0, tp("t", 0), "g", kerr.InvalidTxnState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for what, err := range map[string]error{
				"CheckProduce":      e.checkProduce(tc.id, tc.pid, tc.epoch, tc.tp),
				"CheckOffsetCommit": e.c.CheckOffsetCommit(tc.id, tc.pid, tc.epoch, tc.group),
			} {
				switch {
				case tc.want == nil && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("%s: %v, want %s", what, err, tc.want.Message)
				}
			}
		})
	}
	if code := e.end(3, "x", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	if err := e.checkProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("after commit: %v", err)
	}
}

// A produce that passed CheckProduce appends before the transaction's markers, whichever
// way the transaction ends: its own EndTxn abort, or a fencing InitProducerID.
func TestCheckProduceHoldsMarkers(t *testing.T) {
	for _, how := range []string{"EndTxn abort", "EndTxn commit", "InitProducerID"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, nil)
			pid, epoch := e.init("x")
			e.mustAdd("x", pid, epoch, tp("t", 0))
			done, err := e.c.CheckProduce("x", pid, epoch, tp("t", 0))
			if err != nil {
				t.Fatalf("CheckProduce: %v", err)
			}
			ended := make(chan int16, 1)
			go func() {
				switch how {
				case "InitProducerID":
					ended <- e.initReq(4, "x", 1000, -1, -1).ErrorCode
				default:
					ended <- e.end(3, "x", pid, epoch, how == "EndTxn commit")
				}
			}()
			// The end is decided at once: a later produce of the transaction is refused.
			waitFor(t, "the end to be decided", func() bool { return e.state("x") != "Ongoing" })
			if err := e.checkProduce("x", pid, epoch, tp("t", 0)); err == nil {
				t.Fatal("CheckProduce after the end was decided passed")
			}
			select {
			case code := <-ended:
				t.Fatalf("the transaction ended (%d) while a checked produce had not appended", code)
			case <-time.After(50 * time.Millisecond):
			}
			if calls := e.markers.take(); len(calls) != 0 {
				t.Fatalf("markers written before the checked produce appended: %+v", calls)
			}
			done()
			if code := <-ended; code != 0 {
				t.Fatalf("%s: %d", how, code)
			}
			if calls := e.markers.take(); len(calls) != 1 || calls[0].commit != (how == "EndTxn commit") {
				t.Fatalf("markers %+v", calls)
			}
		})
	}
}
