package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleTxnOffsetCommit stores a transaction's offsets in its group, pending until the
// transaction ends. The transaction coordinator is asked first whether the group is in
// the producer's ongoing transaction: pending offsets it does not know of would never be
// completed.
func handleTxnOffsetCommit(ctx context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	done, err := b.txns.CheckOffsetCommit(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
	if err != nil {
		return reply{resp: txnOffsetCommitError(req, b.txnCheckCode(err))}, nil
	}
	resp, err := b.groups.TxnOffsetCommit(ctx, req)
	done()
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}

// txnOffsetCommitError answers code for every partition of req.
func txnOffsetCommitError(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
