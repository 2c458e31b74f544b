package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/storage"
	"github.com/eddy-io/eddy/broker/internal/txn"
)

// handleProduce appends each partition's batches, then leaves the wait for durability to
// the connection's writer, so the next request on the connection is read and appended
// while this one's fsync is pending, and one fsync covers them both.
func handleProduce(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	ackErr := checkAcks(req)
	var pending []durableWait
	failed := false
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rp.Partition
			switch p := topicPartition(t, rp.Partition); {
			case ackErr != nil:
				sp.ErrorCode = ackErr.(*kerr.Error).Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if w, ok := b.appendPartition(p, rp.Records, req.Version, req.TransactionID, sp); ok {
					pending = append(pending, w)
				}
			}
			failed = failed || sp.ErrorCode != 0
		}
		resp.Topics = append(resp.Topics, st)
	}

	if req.Acks == 0 {
		if failed {
			// A producer that asked for no acknowledgement learns of errors only by a
			// closed connection, which makes it refresh its metadata, as Kafka does.
			return reply{}, errCloseConn
		}
		return reply{noReply: true}, nil
	}
	rep := reply{resp: resp}
	if len(pending) > 0 {
		rep.wait = func(ctx context.Context) { b.waitDurable(ctx, pending) }
	}
	return rep, nil
}

// durableWait is an appended partition whose answer waits for its log to be durable
// through last; resp points into the response being built.
type durableWait struct {
	log   *storage.Log
	topic string
	last  int64
	resp  *kmsg.ProduceResponseTopicPartition
}

// waitDurable waits for every partition of a request at once: each log has its own file,
// so their fsyncs overlap instead of adding up.
func (b *Broker) waitDurable(ctx context.Context, pending []durableWait) {
	wait := func(w durableWait) {
		if err := w.log.WaitDurable(ctx, w.last); err != nil && ctx.Err() == nil {
			w.resp.ErrorCode = kerr.KafkaStorageError.Code
			b.log.Error("fsync failed", "topic", w.topic, "err", err)
		}
	}
	var wg sync.WaitGroup
	for _, w := range pending[1:] {
		wg.Go(func() { wait(w) })
	}
	wait(pending[0])
	wg.Wait()
}

func checkAcks(req *kmsg.ProduceRequest) error {
	switch req.Acks {
	case -1, 0, 1:
		return nil
	}
	return kerr.InvalidRequiredAcks
}

// topicPartition returns partition i of t, or nil when t is nil or has no such partition.
func topicPartition(t *topic, i int32) *partition {
	if t == nil {
		return nil
	}
	return t.partition(i)
}

// appendPartition appends one partition's payload, produced in the transaction of txnID
// when it is set, and fills sp. It reports whether the payload was appended and so needs
// a durability wait before the answer.
func (b *Broker) appendPartition(p *partition, records []byte, version int16, txnID *string, sp *kmsg.ProduceResponseTopicPartition) (durableWait, bool) {
	settings := p.topic.settings.Load()
	batches, err := storage.SplitBatches(records)
	if err != nil || len(batches) == 0 {
		// Produce v0-v2 carry the pre-0.11 message formats, which are not stored.
		sp.ErrorCode = kerr.CorruptMessage.Code
		if version < 3 {
			sp.ErrorCode = kerr.UnsupportedForMessageFormat.Code
		}
		b.log.Debug("produce: bad record batch", "topic", p.topic.name, "partition", p.index, "err", err)
		return durableWait{}, false
	}
	done, code := b.checkTxnBatches(p, batches, txnID)
	if code != 0 {
		sp.ErrorCode = code
		return durableWait{}, false
	}
	defer done()
	var opts storage.AppendOptions
	if settings.logAppendTime {
		opts.LogAppendTime = time.Now().UnixMilli()
	}
	first := true
	var last int64
	for _, batch := range batches {
		if len(batch) > int(settings.maxMessageBytes) {
			sp.ErrorCode = kerr.MessageTooLarge.Code
			break
		}
		info, err := p.log.Append(batch, opts)
		if err != nil && !errors.Is(err, storage.ErrDuplicateSequence) {
			sp.ErrorCode = appendErrorCode(err)
			if sp.ErrorCode == kerr.KafkaStorageError.Code {
				b.log.Error("append failed", "topic", p.topic.name, "partition", p.index, "err", err)
			}
			break
		}
		// A duplicate is answered with the offsets of the batch already stored.
		if first {
			sp.BaseOffset = info.BaseOffset
			if opts.LogAppendTime > 0 {
				sp.LogAppendTime = info.LogAppendTime
			}
			first = false
		}
		sp.LogStartOffset = info.LogStartOffset
		last = info.LastOffset
	}
	if first {
		return durableWait{}, false
	}
	return durableWait{log: p.log, topic: p.topic.name, last: last, resp: sp}, true
}

// checkTxnBatches answers the error code for batches that may not be appended to p: a
// transactional batch outside a transaction, whose transaction the coordinator would
// never end, or a batch of a transaction the coordinator does not have p in. Zero means
// they may; the caller then appends them and calls done, which lets their transaction's
// markers be written (txn.Coordinator.CheckProduce).
func (b *Broker) checkTxnBatches(p *partition, batches [][]byte, txnID *string) (done func(), code int16) {
	var holds []func()
	done = func() {
		for _, release := range holds {
			release()
		}
	}
	for _, batch := range batches {
		pid, epoch, transactional := storage.BatchProducer(batch)
		switch {
		case storage.IsControlBatch(batch):
			code = kerr.InvalidRecord.Code
		case txnID == nil && transactional:
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case txnID == nil:
		case !transactional:
			code = kerr.InvalidRecord.Code
		default:
			tp := txn.TopicPartition{Topic: p.topic.name, Partition: p.index}
			release, err := b.txns.CheckProduce(*txnID, pid, epoch, tp)
			if err != nil {
				code = b.txnCheckCode(err)
				break
			}
			holds = append(holds, release)
		}
		if code != 0 {
			done()
			return nil, code
		}
	}
	return done, 0
}

// appendErrorCode maps a storage append error to its Kafka error code.
func appendErrorCode(err error) int16 {
	switch {
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, storage.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}
