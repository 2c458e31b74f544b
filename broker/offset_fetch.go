package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetFetch answers a group's committed offsets. With RequireStable (v7+,
// KIP-447) a partition whose offset a transaction has pending answers
// UNSTABLE_OFFSET_COMMIT, so the consumer waits instead of starting from an offset about
// to change.
func handleOffsetFetch(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.OffsetFetch(r.kreq.(*kmsg.OffsetFetchRequest))}, nil
}
