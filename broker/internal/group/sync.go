package group

import (
	"bytes"
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup hands each member its assignment once the leader has sent it; members block
// until then or until ctx ends, and an error is returned only for ctx.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, error) {
	resp, w := c.sync(req)
	if resp != nil {
		return resp, nil
	}
	select {
	case resp := <-w.ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, *syncWaiter) {
	fail := func(err *kerr.Error) (*kmsg.SyncGroupResponse, *syncWaiter) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = err.Code
		return resp, nil
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	g, err := c.lockGroup(req.Group, false)
	if err != nil {
		return fail(kerr.NotCoordinator)
	}
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	defer c.unlock(g)
	m, kerrr := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if kerrr != nil {
		return fail(kerrr)
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && *req.Protocol != g.protocol {
		return fail(kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case statePreparing:
		return fail(kerr.RebalanceInProgress)
	case stateCompleting:
		delete(g.pendingSync, m.id)
		g.touch(m)
		if m.sync != nil {
			m.sync.fail(kerr.RebalanceInProgress)
		}
		w := newSyncWaiter(req.Version)
		m.sync = w
		if m.id == g.leader {
			g.assign(req.GroupAssignment)
		}
		return nil, w
	case stateStable:
		delete(g.pendingSync, m.id)
		g.touch(m)
		return g.syncResponse(req.Version, m), nil
	default:
		return fail(kerr.UnknownMemberID)
	}
}

// assign stores the leader's assignment (members it left out get an empty one), makes
// the group stable and answers every member waiting in SyncGroup.
func (g *group) assign(plan []kmsg.SyncGroupRequestGroupAssignment) {
	for _, m := range g.order {
		m.assignment = []byte{}
	}
	for _, a := range plan {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = bytes.Clone(a.MemberAssignment)
		}
	}
	g.state = stateStable
	for _, m := range g.order {
		if m.sync != nil {
			m.sync.answer(g.syncResponse(m.sync.version, m))
			m.sync = nil
		}
	}
	g.c.log.Debug("group stable", "group", g.name, "generation", g.generation)
}

func (g *group) syncResponse(version int16, m *member) *kmsg.SyncGroupResponse {
	resp := &kmsg.SyncGroupResponse{Version: version}
	resp.Default()
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	return resp
}
