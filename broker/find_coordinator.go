package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator key types of FindCoordinator.
const (
	coordinatorGroup int8 = 0
	coordinatorTxn   int8 = 1
)

// handleFindCoordinator answers that this broker coordinates every group and
// transactional ID: it is the only one. v4 batches keys (KIP-699).
func handleFindCoordinator(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	code := int16(0)
	if req.CoordinatorType != coordinatorGroup && req.CoordinatorType != coordinatorTxn {
		code = kerr.InvalidRequest.Code
	}
	if req.Version < 4 {
		resp.ErrorCode = code
		if code == 0 {
			resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, host, port
		} else {
			resp.NodeID, resp.Port = -1, -1
		}
		return reply{resp: resp}, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode = code
		if code == 0 {
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return reply{resp: resp}, nil
}
