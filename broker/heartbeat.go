package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleHeartbeat(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.Heartbeat(r.kreq.(*kmsg.HeartbeatRequest))}, nil
}
