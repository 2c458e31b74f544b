package group

import (
	"bytes"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup adds a member to a group or rejoins one, and blocks until the rebalance it
// takes part in completes or ctx ends; an error is returned only for ctx.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, cl Client) (*kmsg.JoinGroupResponse, error) {
	resp, w := c.join(req, cl)
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

// join answers at once or returns the waiter the answer will come through.
func (c *Coordinator) join(req *kmsg.JoinGroupRequest, cl Client) (*kmsg.JoinGroupResponse, *joinWaiter) {
	fail := func(err *kerr.Error) (*kmsg.JoinGroupResponse, *joinWaiter) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = err.Code
		resp.MemberID = req.MemberID
		return resp, nil
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session <= 0 ||
		c.opts.MinSessionTimeout > 0 && session < c.opts.MinSessionTimeout ||
		c.opts.MaxSessionTimeout > 0 && session > c.opts.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout)
	}
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if rebalance <= 0 { // v0 has none; Kafka uses the session timeout
		rebalance = session
	}
	g, err := c.lockGroup(req.Group, req.MemberID == "")
	if err != nil {
		return fail(kerr.NotCoordinator)
	}
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	defer c.unlock(g)
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	j := joiner{g: g, req: req, cl: cl, session: session, rebalance: rebalance}
	if req.InstanceID != nil && *req.InstanceID != "" {
		j.instanceID = *req.InstanceID
	}
	var jerr *kerr.Error
	var resp *kmsg.JoinGroupResponse
	var w *joinWaiter
	if req.MemberID == "" {
		resp, w, jerr = j.joinNew()
	} else {
		resp, w, jerr = j.joinKnown()
	}
	if jerr != nil {
		return fail(jerr)
	}
	return resp, w
}

// joiner carries one JoinGroup through the group's state; g.mu is held.
type joiner struct {
	g          *group
	req        *kmsg.JoinGroupRequest
	cl         Client
	instanceID string
	session    time.Duration
	rebalance  time.Duration
}

func (j *joiner) protocols() []kmsg.JoinGroupRequestProtocol {
	ps := make([]kmsg.JoinGroupRequestProtocol, len(j.req.Protocols))
	for i, p := range j.req.Protocols {
		ps[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return ps
}

// update applies the join's settings to m.
func (j *joiner) update(m *member) {
	m.protocols = j.protocols()
	m.session = j.session
	m.rebalance = j.rebalance
	m.clientID = j.cl.ID
	m.clientHost = j.cl.Host
}

// await makes m wait for the rebalance's end.
func (j *joiner) await(m *member) *joinWaiter {
	if m.join != nil {
		// A retried join replaces one whose client gave up on it.
		m.join.fail(m.id, kerr.RebalanceInProgress)
	}
	m.join = newJoinWaiter(j.req.Version)
	return m.join
}

// joinNew handles a join without a member ID.
func (j *joiner) joinNew() (*kmsg.JoinGroupResponse, *joinWaiter, *kerr.Error) {
	g := j.g
	if j.instanceID != "" {
		if oldID, ok := g.static[j.instanceID]; ok {
			return j.replaceStatic(g.members[oldID])
		}
		return nil, j.addAndRebalance(newMemberID(j.instanceID)), nil
	}
	id := newMemberID(j.cl.ID)
	if j.req.Version >= 4 {
		// KIP-394: hand out the ID first so that a client that retries joins does not
		// leave a trail of members behind; it must come back with it.
		g.pending[id] = time.AfterFunc(j.session, func() { g.onPendingTimer(id) })
		resp := j.req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.MemberIDRequired.Code
		resp.MemberID = id
		return resp, nil, nil
	}
	return nil, j.addAndRebalance(id), nil
}

func (g *group) onPendingTimer(id string) {
	g.mu.Lock()
	defer g.c.unlock(g)
	if g.c.closing.Load() || g.state == stateDead || g.pending[id] == nil {
		return
	}
	delete(g.pending, id)
	g.tryCompleteJoin()
}

func (j *joiner) addAndRebalance(id string) *joinWaiter {
	g := j.g
	m := &member{id: id, instanceID: j.instanceID}
	j.update(m)
	w := j.await(m)
	g.addMember(m, j.req.ProtocolType)
	g.c.log.Debug("member joined group", "group", g.name, "member", id, "instance", j.instanceID, "client", j.cl.ID)
	if g.state == statePreparing {
		g.tryCompleteJoin()
	} else {
		g.maybePrepareRebalance()
	}
	return w
}

// replaceStatic gives a restarted static member (same instance ID, no member ID) a new
// member ID in place of the old one, which is fenced. A stable group whose protocol
// would not change keeps its assignment and skips the rebalance (KIP-345).
func (j *joiner) replaceStatic(m *member) (*kmsg.JoinGroupResponse, *joinWaiter, *kerr.Error) {
	g := j.g
	oldID, oldLeader := m.id, g.leader
	newID := newMemberID(j.instanceID)
	if m.join != nil {
		m.join.fail(oldID, kerr.FencedInstanceID)
		m.join = nil
	}
	if m.sync != nil {
		m.sync.fail(kerr.FencedInstanceID)
		m.sync = nil
	}
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[j.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	j.update(m)
	g.touch(m)
	g.c.log.Info("static member replaced", "group", g.name, "instance", j.instanceID, "old_member", oldID, "member", newID)

	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocol {
			return j.stableStaticRejoin(m, oldLeader), nil, nil
		}
		w := j.await(m)
		g.prepareRebalance()
		return nil, w, nil
	case stateCompleting:
		w := j.await(m)
		g.prepareRebalance()
		return nil, w, nil
	default: // statePreparing: the rebalance under way includes it
		w := j.await(m)
		g.tryCompleteJoin()
		return nil, w, nil
	}
}

// stableStaticRejoin answers a replaced static member of a stable group with the
// current generation. A leader must not compute a new assignment (a stable group would
// not hand it out), so from v9 it is told to skip assignment (KIP-814); older versions
// are given the old leader ID so that it does not see itself as leader.
func (j *joiner) stableStaticRejoin(m *member, oldLeader string) *kmsg.JoinGroupResponse {
	g := j.g
	if g.leader == m.id && j.req.Version >= 9 {
		resp := g.joinResponse(j.req.Version, m.id, true)
		resp.SkipAssignment = true
		return resp
	}
	resp := g.joinResponse(j.req.Version, m.id, false)
	resp.LeaderID = oldLeader
	return resp
}

// joinKnown handles a join with a member ID.
func (j *joiner) joinKnown() (*kmsg.JoinGroupResponse, *joinWaiter, *kerr.Error) {
	g := j.g
	id := j.req.MemberID
	if t := g.pending[id]; t != nil {
		if j.instanceID != "" {
			return nil, nil, kerr.UnknownMemberID
		}
		t.Stop()
		delete(g.pending, id)
		return nil, j.addAndRebalance(id), nil
	}
	if g.fenced(id, j.req.InstanceID) {
		return nil, nil, kerr.FencedInstanceID
	}
	m := g.members[id]
	if m == nil || j.instanceID != "" && g.static[j.instanceID] != id {
		return nil, nil, kerr.UnknownMemberID
	}
	switch g.state {
	case statePreparing:
		j.update(m)
		w := j.await(m)
		g.tryCompleteJoin()
		return nil, w, nil
	case stateCompleting:
		if m.sameProtocols(j.req.Protocols) {
			// A retry of a join that was already answered: answer it again.
			g.touch(m)
			return g.joinResponse(j.req.Version, id, id == g.leader), nil, nil
		}
	case stateStable:
		if id != g.leader && m.sameProtocols(j.req.Protocols) {
			// Nothing changed for a follower: no rebalance.
			g.touch(m)
			return g.joinResponse(j.req.Version, id, false), nil, nil
		}
	default:
		return nil, nil, kerr.UnknownMemberID
	}
	// The leader rejoining (to force a rebalance) or a member's protocols changed.
	j.update(m)
	w := j.await(m)
	g.prepareRebalance()
	return nil, w, nil
}
