package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup removes members: one by member ID before v3, a batch by member or instance
// ID from v3 (an admin removing static members sends instance IDs only).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := c.leave(req.Group, leaving, &resp.ErrorCode)
	if req.Version < 3 {
		if resp.ErrorCode == 0 {
			resp.ErrorCode = codes[0]
		}
		return resp
	}
	for i, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = l.MemberID
		rm.InstanceID = l.InstanceID
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// leave removes each member and returns its error code; group-wide errors go to *top.
func (c *Coordinator) leave(name string, leaving []kmsg.LeaveGroupRequestMember, top *int16) []int16 {
	codes := make([]int16, len(leaving))
	if name == "" {
		*top = kerr.InvalidGroupID.Code
		return codes
	}
	g, err := c.lockGroup(name, false)
	if err != nil {
		*top = kerr.NotCoordinator.Code
		return codes
	}
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return codes
	}
	defer c.unlock(g)
	for i, l := range leaving {
		codes[i] = g.leaveOne(l)
	}
	return codes
}

func (g *group) leaveOne(l kmsg.LeaveGroupRequestMember) int16 {
	if l.MemberID == "" {
		if l.InstanceID == nil || g.static[*l.InstanceID] == "" {
			return kerr.UnknownMemberID.Code
		}
		g.removeAndRebalance(g.members[g.static[*l.InstanceID]], "removed by instance ID")
		return 0
	}
	if g.fenced(l.MemberID, l.InstanceID) {
		return kerr.FencedInstanceID.Code
	}
	if t := g.pending[l.MemberID]; t != nil {
		t.Stop()
		delete(g.pending, l.MemberID)
		g.tryCompleteJoin()
		return 0
	}
	m := g.members[l.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeAndRebalance(m, "left the group")
	return 0
}
