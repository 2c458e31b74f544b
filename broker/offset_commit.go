package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetCommit answers once the commit is durable under the broker's fsync policy.
func handleOffsetCommit(ctx context.Context, b *Broker, r *request) (reply, error) {
	resp, err := b.groups.OffsetCommit(ctx, r.kreq.(*kmsg.OffsetCommitRequest))
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}
