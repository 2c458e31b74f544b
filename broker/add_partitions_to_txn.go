package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleAddPartitionsToTxn adds partitions to a producer's transaction, which lets it
// produce to them. Versions 0-3 only: v4 is KIP-890's broker-to-broker batch form.
func handleAddPartitionsToTxn(ctx context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.txns.AddPartitionsToTxn(ctx, r.kreq.(*kmsg.AddPartitionsToTxnRequest))}, nil
}
