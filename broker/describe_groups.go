package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeGroups(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.DescribeGroups(r.kreq.(*kmsg.DescribeGroupsRequest))}, nil
}
