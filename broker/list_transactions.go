package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleListTransactions lists the transactional IDs the coordinator knows, for tooling.
func handleListTransactions(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.txns.ListTransactions(r.kreq.(*kmsg.ListTransactionsRequest))}, nil
}
