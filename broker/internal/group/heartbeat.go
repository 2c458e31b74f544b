package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat keeps a member's session alive and tells it when to rejoin.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, err := c.lockGroup(req.Group, false)
	if err != nil {
		return kerr.NotCoordinator.Code
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	defer c.unlock(g)
	m, kerrr := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if kerrr != nil {
		return kerrr.Code
	}
	switch g.state {
	case stateCompleting, stateStable:
		g.touch(m)
		return 0
	case statePreparing:
		g.touch(m)
		return kerr.RebalanceInProgress.Code
	default:
		return kerr.UnknownMemberID.Code
	}
}
