package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.ListGroups(r.kreq.(*kmsg.ListGroupsRequest))}, nil
}
