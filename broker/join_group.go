package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/group"
)

// handleJoinGroup blocks until the rebalance the member joins completes; the
// connection's other requests wait behind it, as they do on Kafka.
func handleJoinGroup(ctx context.Context, b *Broker, r *request) (reply, error) {
	resp, err := b.groups.JoinGroup(ctx, r.kreq.(*kmsg.JoinGroupRequest), group.Client{ID: r.clientID, Host: r.clientHost})
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}
