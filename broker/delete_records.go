package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteToHighWatermark is the DeleteRecords offset that means "everything readable now".
const deleteToHighWatermark = -1

// handleDeleteRecords raises the log start offset of partitions, so that records before
// the requested offsets are no longer readable and whole segments below them are
// removed. The new start is durable before the answer.
func handleDeleteRecords(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark, sp.ErrorCode = b.deleteRecords(topicPartition(t, rp.Partition), rp.Offset)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// deleteRecords deletes the records of p before offset and returns the new low watermark
// (log start offset), or -1 and an error code.
func (b *Broker) deleteRecords(p *partition, offset int64) (int64, int16) {
	if p == nil {
		return -1, kerr.UnknownTopicOrPartition.Code
	}
	// Kafka refuses to delete records of a topic whose records only compaction removes.
	if !deletePolicy(p.topic.configs()) {
		return -1, kerr.PolicyViolation.Code
	}
	hw := p.log.HighWatermark()
	switch {
	case offset == deleteToHighWatermark:
		offset = hw
	case offset < 0 || offset > hw:
		return -1, kerr.OffsetOutOfRange.Code
	}
	low, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		code := readErrorCode(err)
		if code == kerr.KafkaStorageError.Code {
			b.log.Error("delete records failed", "topic", p.topic.name, "partition", p.index, "offset", offset, "err", err)
		}
		return -1, code
	}
	return low, 0
}

// deletePolicy reports whether a topic's cleanup.policy includes delete.
func deletePolicy(overrides map[string]string) bool {
	policy, ok := overrides["cleanup.policy"]
	if !ok {
		d, _ := lookupConfig("cleanup.policy")
		policy = d.def
	}
	return slices.Contains(strings.Split(policy, ","), "delete")
}
