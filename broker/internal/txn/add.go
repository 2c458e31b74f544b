package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn adds partitions to the producer's transaction, beginning it if none
// is in progress. Every partition gets the same answer; when one does not exist it gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in Kafka.
// Versions 0-3; the batched v4+ form (KIP-890) is UNSUPPORTED_VERSION.
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp
	}
	var unknown map[TopicPartition]bool
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			if !c.opts.PartitionExists(rt.Topic, p) {
				if unknown == nil {
					unknown = map[TopicPartition]bool{}
				}
				unknown[TopicPartition{rt.Topic, p}] = true
			}
		}
	}
	code := int16(0)
	switch {
	case req.TransactionalID == "":
		code = kerr.InvalidRequest.Code
	case unknown != nil:
		code = kerr.OperationNotAttempted.Code
	default:
		code = c.addPartitions(req)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition = p
			sp.ErrorCode = code
			if unknown[TopicPartition{rt.Topic, p}] {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *Coordinator) addPartitions(req *kmsg.AddPartitionsToTxnRequest) int16 {
	return c.add(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version >= 2, func(m *meta) bool {
		added := false
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				tp := TopicPartition{rt.Topic, p}
				if !m.hasPartition(tp) {
					m.addPartition(tp)
					added = true
				}
			}
		}
		return added
	})
}

// AddOffsetsToTxn adds a group to the producer's transaction, so that its
// TxnOffsetCommits are completed with the transaction, beginning the transaction if none
// is in progress.
func (c *Coordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if req.TransactionalID == "" || req.Group == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	resp.ErrorCode = c.add(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version >= 2, func(m *meta) bool {
		if _, ok := m.groups[req.Group]; ok {
			return false
		}
		m.groups[req.Group] = struct{}{}
		return true
	})
	return resp
}

// add applies addTo to a copy of the ID's transaction (begun if none is in progress)
// and logs it when addTo reports a change or the transaction is new.
func (c *Coordinator) add(id string, pid int64, epoch int16, fencedKnown bool, addTo func(*meta) bool) int16 {
	t, err := c.lockTxn(id, false)
	if err != nil {
		return errorCode(err)
	}
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code
	}
	defer t.mu.Unlock()
	if code := t.m.checkProducer(pid, epoch, fencedKnown); code != 0 {
		return code
	}
	if t.busy || t.m.state.prepared() {
		// The previous transaction is still being completed.
		return kerr.ConcurrentTransactions.Code
	}
	next := t.m.clone()
	now := c.opts.Now()
	next.beginIfIdle(now)
	if !addTo(&next) && t.m.state == stateOngoing {
		return 0
	}
	next.updated = now
	if err := c.persist(t, next); err != nil {
		return errorCode(err)
	}
	return 0
}
