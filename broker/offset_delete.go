package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetDelete(ctx context.Context, b *Broker, r *request) (reply, error) {
	resp, err := b.groups.OffsetDelete(ctx, r.kreq.(*kmsg.OffsetDeleteRequest))
	if err != nil {
		return reply{}, err
	}
	return reply{resp: resp}, nil
}
