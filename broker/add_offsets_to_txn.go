package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleAddOffsetsToTxn adds a group to a producer's transaction, which lets it commit
// that group's offsets with TxnOffsetCommit.
func handleAddOffsetsToTxn(ctx context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.txns.AddOffsetsToTxn(ctx, r.kreq.(*kmsg.AddOffsetsToTxnRequest))}, nil
}
