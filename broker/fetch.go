package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/storage"
)

// fetchMaxBytes caps one fetch response, as Kafka's fetch.max.bytes does (same default):
// a connection may hold MaxInFlightPerConn answers, so a client asking for 2 GiB must not
// make the broker build one.
const fetchMaxBytes = 55 << 20

// handleFetch reads every requested partition and, while fewer than MinBytes are ready,
// waits up to MaxWait for any of them to grow (under read_committed, for the last stable
// offset to move, which only a growing log does). Fetch sessions (KIP-227) are declined
// by answering session ID 0, so clients send full requests.
func handleFetch(ctx context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.FetchRequest)

	// Register for appends before the first read so an append between the read and the
	// wait is not missed.
	wake := make(chan struct{}, 1)
	for _, rt := range req.Topics {
		t := b.topics.get(rt.Topic)
		for _, rp := range rt.Partitions {
			if p := topicPartition(t, rp.Partition); p != nil {
				defer p.log.Watch(wake)()
			}
		}
	}

	var deadline <-chan time.Time
	if req.MaxWaitMillis > 0 {
		timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		resp, size, failed := b.readFetch(req)
		if size >= int(req.MinBytes) || failed || deadline == nil {
			return reply{resp: resp}, nil
		}
		select {
		case <-wake:
		case <-deadline:
			deadline = nil // one more read, then answer
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// readFetch builds a fetch response from the logs as they are now. It returns the bytes
// of record batches gathered and whether any partition failed, which answers at once.
func (b *Broker) readFetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 || maxBytes > fetchMaxBytes {
		maxBytes = fetchMaxBytes
	}
	// read_committed (KIP-98) stops at the last stable offset and names the aborted
	// transactions in what it returns, so the consumer can drop their records.
	readCommitted := req.IsolationLevel == 1
	total := 0
	failed := false
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rp.Partition
			// Empty, not null: librdkafka reads a null list or record set as a parse failure.
			sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			sp.RecordBatches = []byte{}
			p := topicPartition(t, rp.Partition)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				failed = true
				continue
			}
			limit := min(int(rp.PartitionMaxBytes), maxBytes-total)
			// KIP-74: the first batch of the response is returned even when it is larger
			// than the limits, so a consumer can never be stuck behind a big batch.
			read := p.log.Read
			if readCommitted {
				read = p.log.ReadCommitted
			}
			res, err := read(rp.FetchOffset, max(limit, 0), total == 0)
			sp.HighWatermark = res.HighWatermark
			sp.LastStableOffset = res.LastStableOffset
			sp.LogStartOffset = res.LogStartOffset
			if err != nil {
				sp.ErrorCode = readErrorCode(err)
				sp.HighWatermark = p.log.HighWatermark()
				sp.LastStableOffset = p.log.LastStableOffset()
				sp.LogStartOffset = p.log.LogStartOffset()
				failed = true
				continue
			}
			if res.Data != nil {
				sp.RecordBatches = res.Data
			}
			for _, a := range res.Aborted {
				sp.AbortedTransactions = append(sp.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{
					ProducerID:  a.ProducerID,
					FirstOffset: a.FirstOffset,
				})
			}
			total += len(res.Data)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, failed
}

func readErrorCode(err error) int16 {
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}
