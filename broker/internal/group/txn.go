package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit stores offsets pending until the producer's transaction ends; the
// broker has already checked that the group is in the producer's transaction. A pending
// offset is invisible to OffsetFetch until CompleteTxn commits it; OffsetFetch with
// RequireStable reports its partition unstable meanwhile.
//
// v3+ (KIP-447): a request naming a member (MemberID, GenerationID != -1 or
// GroupInstanceID) is checked against the group as Kafka's classic group does:
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION. A request naming none
// (older clients, simple consumers) is accepted whatever the group's state, and
// generation -1 into an unknown group creates it; any other generation into an unknown
// group is ILLEGAL_GENERATION. Unlike OffsetCommit, a member's commit during
// CompletingRebalance is accepted. Durable like OffsetCommit: with Options.Sync it returns
// once the offsets are on disk. An error is returned only for ctx.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	var entries []offsetEntry
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			rp.Default()
			rp.Partition = p.Partition
			rp.ErrorCode = c.checkPartition(t.Topic, p.Partition, p.Metadata)
			if req.Group == "" {
				rp.ErrorCode = kerr.InvalidGroupID.Code
			}
			if rp.ErrorCode == 0 {
				entries = append(entries, newOffsetEntry(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata))
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(entries) == 0 {
		return resp, nil
	}
	err := c.txnCommit(ctx, req, entries)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		code := errorCode(err)
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				if p := &resp.Topics[ti].Partitions[pi]; p.ErrorCode == 0 {
					p.ErrorCode = code
				}
			}
		}
	}
	return resp, nil
}

func (c *Coordinator) txnCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, entries []offsetEntry) error {
	generation, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version < 3 {
		// The fields are not on the wire; whatever the struct holds is not the client's.
		generation, memberID, instanceID = -1, "", nil
	}
	g, err := c.lockGroup(req.Group, generation < 0)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.IllegalGeneration
	}
	if kerrr := g.checkTxnCommit(generation, memberID, instanceID); kerrr != nil {
		c.unlock(g)
		return kerrr
	}
	seq, err := c.store.write(&op{kind: opTxnCommit, group: req.Group, producerID: req.ProducerID, entries: entries})
	c.unlock(g)
	if err != nil {
		c.log.Warn("transactional offset commit failed", "group", req.Group, "producer_id", req.ProducerID, "err", err)
		return err
	}
	return c.store.flush(ctx, seq)
}

// checkTxnCommit applies KIP-447's checks to a transactional commit; g.mu is held. A
// static member is known by its instance ID, which must map to the member ID given.
func (g *group) checkTxnCommit(generation int32, memberID string, instanceID *string) *kerr.Error {
	if generation < 0 && g.state == stateEmpty {
		return nil
	}
	if generation < 0 && memberID == "" && instanceID == nil {
		return nil
	}
	if instanceID != nil {
		id, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if id != memberID {
			return kerr.FencedInstanceID
		}
	} else if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// CompleteTxn ends the producer's transaction in group: commit makes its pending offsets
// the committed ones (except where a later OffsetCommit, or a transaction that ended
// first, committed a newer one), abort drops them. It returns once that is durable
// (with Options.Sync). With nothing pending it writes nothing, but still waits until
// everything logged so far is durable, so that a retry after a failure is as good as the
// first call: the transaction coordinator calls it again after a restart for
// transactions that were completing.
func (c *Coordinator) CompleteTxn(ctx context.Context, group string, producerID int64, commit bool) error {
	g, err := c.lockGroup(group, false)
	if err != nil {
		return err
	}
	var seq uint64
	if g != nil {
		if c.store.hasPendingTxn(group, producerID) {
			seq, err = c.store.write(&op{kind: opTxnEnd, group: group, producerID: producerID, commit: commit})
		}
		c.unlock(g)
		if err != nil {
			c.log.Warn("ending transactional offsets failed", "group", group, "producer_id", producerID, "commit", commit, "err", err)
			return err
		}
	}
	if seq == 0 {
		seq = c.store.lastWritten()
	}
	return c.store.flush(ctx, seq)
}
