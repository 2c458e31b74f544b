package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetFetch(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.OffsetFetch(r.kreq.(*kmsg.OffsetFetchRequest))}, nil
}
