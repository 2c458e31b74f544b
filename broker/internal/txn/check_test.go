package txn

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCheckProduceAndOffsetCommit(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	if err := e.c.CheckProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidTxnState) {
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
				"CheckProduce":      e.c.CheckProduce(tc.id, tc.pid, tc.epoch, tc.tp),
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
	if err := e.c.CheckProduce("x", pid, epoch, tp("t", 0)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("after commit: %v", err)
	}
}
