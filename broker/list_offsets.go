package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets' special timestamps.
const (
	listLatest   = -1
	listEarliest = -2
)

// handleListOffsets answers the earliest offset, the latest (the high watermark, or the
// last stable offset under read_committed) or the first offset at or after a timestamp.
// Version 0 answers in its old list form.
func handleListOffsets(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch = 0
			if p := topicPartition(t, rp.Partition); p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				b.listOffset(p, rp.Timestamp, req.IsolationLevel == 1, &sp)
			}
			if req.Version == 0 && sp.ErrorCode == 0 && sp.Offset >= 0 && rp.MaxNumOffsets > 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// listOffset fills sp with p's offset for ts. Under read_committed nothing at or past the
// last stable offset is answered, as a consumer could not read it yet.
func (b *Broker) listOffset(p *partition, ts int64, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.Timestamp = -1
	switch ts {
	case listLatest:
		sp.Offset = p.log.HighWatermark()
		if readCommitted {
			sp.Offset = p.log.LastStableOffset()
		}
	case listEarliest:
		sp.Offset = p.log.LogStartOffset()
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, at, found, err := p.log.OffsetForTimestamp(ts)
		switch {
		case err != nil:
			b.log.Error("list offsets by time", "topic", p.topic.name, "partition", p.index, "err", err)
			sp.ErrorCode = readErrorCode(err)
		case !found || readCommitted && off >= p.log.LastStableOffset():
			sp.Offset = -1
		default:
			sp.Offset, sp.Timestamp = off, at
		}
	}
}
