package broker

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleInitProducerID gives idempotent producers an ID. A producer that sends its
// current ID and epoch (KIP-360, v3+) gets the epoch bumped, or a new ID when the epoch
// would overflow, so it can reset its sequences after an error. Transactional producers
// are the transaction coordinator's: it fences their older instances.
func handleInitProducerID(ctx context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		return reply{resp: b.txns.InitProducerID(ctx, req)}, nil
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return reply{resp: resp}, nil
	}
	id, err := b.pids.allocate()
	if err != nil {
		b.log.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return reply{resp: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return reply{resp: resp}, nil
}
