package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSyncGroup blocks until the group leader has sent the generation's assignment.
func handleSyncGroup(ctx context.Context, b *Broker, r *request) (reply, error) {
	resp, err := b.groups.SyncGroup(ctx, r.kreq.(*kmsg.SyncGroupRequest))
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}
