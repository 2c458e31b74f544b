package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(ctx context.Context, b *Broker, r *request) (reply, error) {
	resp, err := b.groups.DeleteGroups(ctx, r.kreq.(*kmsg.DeleteGroupsRequest))
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}
