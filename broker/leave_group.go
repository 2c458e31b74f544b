package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleLeaveGroup(_ context.Context, b *Broker, r *request) (reply, error) {
	return reply{resp: b.groups.LeaveGroup(r.kreq.(*kmsg.LeaveGroupRequest))}, nil
}
