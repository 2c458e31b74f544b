package txn

import (
	"context"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID registers a transactional ID or hands its producer a new epoch,
// fencing every older producer of the ID. A transaction the ID has in progress is
// aborted first, with a bumped epoch so that its markers fence the old producer. With
// a producer ID and epoch in the request (v3+, KIP-360) the caller must hold the current
// pair or the one before the latest bump. The epoch never reaches math.MaxInt16-1: the
// ID gets a new producer ID at epoch 0 instead. Requests without a transactional ID are
// the broker's.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	pid, epoch, code := c.initProducerID(ctx, req)
	resp.ErrorCode = code
	if code == 0 {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	} else {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
	}
	return resp
}

// producerPair is a producer ID with an epoch.
type producerPair struct {
	id    int64
	epoch int16
}

// noPair is the "no producer" pair of requests and of meta's last pair.
var noPair = producerPair{-1, -1}

func (c *Coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	if req.TransactionalID == nil || *req.TransactionalID == "" {
		return 0, 0, kerr.InvalidRequest.Code
	}
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	if timeout <= 0 || timeout > c.opts.MaxTimeout {
		return 0, 0, kerr.InvalidTransactionTimeout.Code
	}
	expected := noPair
	if req.Version >= 3 {
		expected = producerPair{req.ProducerID, req.ProducerEpoch}
		if (expected.id < 0) != (expected.epoch < 0) {
			return 0, 0, kerr.InvalidRequest.Code
		}
		if expected.id < 0 {
			expected = noPair
		}
	}
	t, err := c.lockTxn(*req.TransactionalID, true)
	if err != nil {
		return 0, 0, errorCode(err)
	}
	defer t.mu.Unlock()
	if !t.logged {
		// A new ID; a pair in the request is of an ID that expired, and is ignored.
		pid, err := c.opts.AllocateProducerID()
		if err == nil {
			err = c.persist(t, meta{
				producerID: pid, lastProducerID: -1, lastEpoch: -1,
				timeout: timeout, state: stateEmpty, updated: c.opts.Now(),
			})
		}
		if err != nil {
			c.log.Error("registering transactional id failed", "transactional_id", t.id, "err", err)
			c.remove(t)
			return 0, 0, errorCode(err)
		}
		return pid, 0, 0
	}
	if t.busy {
		return 0, 0, kerr.ConcurrentTransactions.Code
	}
	cur := producerPair{t.m.producerID, t.m.epoch}
	last := producerPair{t.m.lastProducerID, t.m.lastEpoch}
	if expected != noPair && expected != cur && expected != last {
		if req.Version >= 4 {
			return 0, 0, kerr.ProducerFenced.Code
		}
		return 0, 0, kerr.InvalidProducerEpoch.Code
	}
	switch {
	case t.m.state == stateOngoing:
		if err := c.prepareFenceAbort(t); err != nil {
			return 0, 0, errorCode(err)
		}
		fallthrough
	case t.m.state.prepared():
		if err := c.finish(ctx, t); err != nil {
			return 0, 0, kerr.ConcurrentTransactions.Code
		}
	}
	next := t.m.clone()
	next.timeout = timeout
	next.state = stateEmpty
	next.start = time.Time{}
	next.partitions, next.groups = nil, nil
	next.updated = c.opts.Now()
	// A producer that re-initialises with its pair may retry with it if it never hears
	// back; a new producer leaves no pair for the old one to claim.
	next.lastProducerID, next.lastEpoch = expected.id, expected.epoch
	if t.m.epoch+1 >= math.MaxInt16-1 {
		pid, err := c.opts.AllocateProducerID()
		if err != nil {
			c.log.Error("allocating producer id failed", "transactional_id", t.id, "err", err)
			return 0, 0, errorCode(err)
		}
		next.producerID, next.epoch = pid, 0
	} else {
		next.epoch++
	}
	if err := c.persist(t, next); err != nil {
		return 0, 0, errorCode(err)
	}
	return next.producerID, next.epoch, 0
}
