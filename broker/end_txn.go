package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleEndTxn commits or aborts a transaction. The coordinator answers once every
// marker and group offset is durable, so a read_committed consumer sees a committed
// transaction as soon as its producer hears of it.
func handleEndTxn(ctx context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.txns.EndTxn(ctx, r.kreq.(*kmsg.EndTxnRequest))}, nil
}
