package txn

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAddPartitionsToTxnErrors(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	e.init("x") // epoch 1: epoch 0 is now fenced
	epoch++
	for _, tc := range []struct {
		name    string
		version int16
		id      string
		pid     int64
		epoch   int16
		parts   []TopicPartition
		want    map[TopicPartition]*kerr.Error
	}{
		{"empty id", 3, "", pid, epoch, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.InvalidRequest}},
		{"unknown partition", 3, "x", pid, epoch, []TopicPartition{tp("t", 0), tp("missing", 0), tp("t", 12)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.OperationNotAttempted, tp("missing", 0): kerr.UnknownTopicOrPartition, tp("t", 12): kerr.UnknownTopicOrPartition}},
		{"unknown id", 3, "nope", pid, epoch, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.InvalidProducerIDMapping}},
		{"other producer id", 3, "x", pid + 1, epoch, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.InvalidProducerIDMapping}},
		{"fenced epoch v2", 2, "x", pid, epoch - 1, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.ProducerFenced}},
		{"fenced epoch v1", 1, "x", pid, epoch - 1, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.InvalidProducerEpoch}},
		{"future epoch", 3, "x", pid, epoch + 1, []TopicPartition{tp("t", 0)},
			map[TopicPartition]*kerr.Error{tp("t", 0): kerr.ProducerFenced}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.addV(tc.version, tc.id, tc.pid, tc.epoch, tc.parts...)
			for p, want := range tc.want {
				if got[p] != want.Code {
					t.Errorf("%v: error %d, want %s", p, got[p], want.Message)
				}
			}
		})
	}
	if st := e.state("x"); st != "Empty" {
		t.Fatalf("refused adds changed the state to %s", st)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if resp := e.c.AddPartitionsToTxn(t.Context(), req); resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("v4: error %d", resp.ErrorCode)
	}
}

func TestAddPartitionsBeginsAndExtends(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	start := e.clock.Now()
	e.mustAdd("x", pid, epoch, tp("t", 0), tp("u", 3))
	st := e.describe("x")
	if st.State != "Ongoing" || st.StartTimestamp != start.UnixMilli() {
		t.Fatalf("after first add: %+v", st)
	}
	written := e.c.store.j.Written()
	e.clock.advance(1000)
	e.mustAdd("x", pid, epoch, tp("t", 0)) // already in: nothing to log
	if e.c.store.j.Written() != written {
		t.Fatal("re-adding a partition was logged")
	}
	e.mustAdd("x", pid, epoch, tp("t", 1))
	st = e.describe("x")
	if st.StartTimestamp != start.UnixMilli() {
		t.Fatalf("adding moved the start: %d", st.StartTimestamp)
	}
	if len(st.Topics) != 2 || st.Topics[0].Topic != "t" || len(st.Topics[0].Partitions) != 2 || st.Topics[1].Topic != "u" {
		t.Fatalf("topics %+v", st.Topics)
	}
}

func TestAddOffsetsToTxn(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	for _, tc := range []struct {
		name    string
		version int16
		id      string
		pid     int64
		epoch   int16
		group   string
		want    int16
	}{
		{"empty id", 3, "", pid, epoch, "g", kerr.InvalidRequest.Code},
		{"empty group", 3, "x", pid, epoch, "", kerr.InvalidRequest.Code},
		{"unknown id", 3, "nope", pid, epoch, "g", kerr.InvalidProducerIDMapping.Code},
		{"other producer", 3, "x", pid + 5, epoch, "g", kerr.InvalidProducerIDMapping.Code},
		{"wrong epoch v2", 2, "x", pid, epoch + 1, "g", kerr.ProducerFenced.Code},
		{"wrong epoch v1", 1, "x", pid, epoch + 1, "g", kerr.InvalidProducerEpoch.Code},
		{"ok", 3, "x", pid, epoch, "g", 0},
		{"again", 3, "x", pid, epoch, "g", 0},
	} {
		if got := e.addOffsets(tc.version, tc.id, tc.pid, tc.epoch, tc.group); got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
	if st := e.describe("x"); st.State != "Ongoing" || len(st.Topics) != 0 {
		t.Fatalf("after AddOffsetsToTxn: %+v", st)
	}
	if err := e.checkOffsetCommit("x", pid, epoch, "g"); err != nil {
		t.Fatalf("CheckOffsetCommit: %v", err)
	}
}
