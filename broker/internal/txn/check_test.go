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
				"CheckOffsetCommit": e.checkOffsetCommit(tc.id, tc.pid, tc.epoch, tc.group),
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
	for _, c := range []struct {
		how, checked string
	}{
		{"EndTxn abort", "produce"}, {"EndTxn commit", "produce"}, {"InitProducerID", "produce"},
		{"EndTxn abort", "offset commit"}, {"EndTxn commit", "offset commit"},
	} {
		how := c.how
		t.Run(how+" after a checked "+c.checked, func(t *testing.T) {
			e := newEnv(t, nil)
			pid, epoch := e.init("x")
			e.mustAdd("x", pid, epoch, tp("t", 0))
			if code := e.addOffsets(3, "x", pid, epoch, "g"); code != 0 {
				t.Fatalf("AddOffsetsToTxn: %d", code)
			}
			check := func() (func(), error) { return e.c.CheckProduce("x", pid, epoch, tp("t", 0)) }
			if c.checked == "offset commit" {
				check = func() (func(), error) { return e.c.CheckOffsetCommit("x", pid, epoch, "g") }
			}
			done, err := check()
			if err != nil {
				t.Fatalf("check: %v", err)
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
			// One marker write, then the group's offsets completed the same way.
			calls := e.markers.take()
			if len(calls) != 2 || calls[0].group != "" || calls[1].group != "g" ||
				calls[0].commit != (how == "EndTxn commit") || calls[1].commit != calls[0].commit {
				t.Fatalf("markers %+v", calls)
			}
		})
	}
}
