package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeTransactions answers the coordinator's state of transactional IDs, for
// tooling.
func handleDescribeTransactions(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.txns.DescribeTransactions(r.kreq.(*kmsg.DescribeTransactionsRequest))}, nil
}
