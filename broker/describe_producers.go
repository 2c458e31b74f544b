package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeProducers answers, per partition, the producers its log remembers and
// the transaction each has open there, so tooling can find what holds the last stable
// offset back.
func handleDescribeProducers(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = i
			p := topicPartition(t, i)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, info := range p.log.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = info.ProducerID
				ap.ProducerEpoch = int32(info.Epoch)
				ap.LastSequence = info.LastSequence
				ap.LastTimestamp = info.LastTimestamp
				ap.CoordinatorEpoch = info.CoordinatorEpoch
				ap.CurrentTxnStartOffset = info.CurrentTxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}
