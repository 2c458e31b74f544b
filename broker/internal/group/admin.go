package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the AuthorizedOperations bit field of a group when nothing is
// denied (there are no ACLs): READ, DELETE and DESCRIBE.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups describes groups. Member metadata and assignments are given while the
// group is stable, as Kafka does; an unknown group is described as Dead.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		d := kmsg.NewDescribeGroupsResponseGroup()
		d.Group = name
		d.State = stateDead.String()
		if req.IncludeAuthorizedOperations {
			d.AuthorizedOperations = groupOperations
		}
		g, err := c.lockGroup(name, false)
		switch {
		case err != nil:
			d.ErrorCode = errorCode(err)
		case g != nil:
			g.describe(&d)
			c.unlock(g)
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// describe fills d; g.mu is held.
func (g *group) describe(d *kmsg.DescribeGroupsResponseGroup) {
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.order {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instancePtr()
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadata(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		d.Members = append(d.Members, dm)
	}
}

// ListGroups lists groups, only those in the requested states when v4+ asks for some.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gs := c.snapshot()
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.name, b.name) })
	for _, g := range gs {
		g.mu.Lock()
		st, protocolType := g.state, g.protocolType
		g.mu.Unlock()
		if st == stateDead {
			continue
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool {
			return strings.EqualFold(s, st.String())
		}) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.name
		lg.ProtocolType = protocolType
		lg.GroupState = st.String()
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups deletes empty groups and their committed offsets; an error is returned
// only for ctx. Pending transactional offsets do not make a group non-empty: they are
// deleted with it, as Kafka's coordinator deletes them (its tombstones cover pending
// offsets too), and the transaction's later commit finds nothing to complete.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) (*kmsg.DeleteGroupsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	var last uint64
	var deleted []int
	for _, name := range req.Groups {
		d := kmsg.NewDeleteGroupsResponseGroup()
		d.Group = name
		seq, err := c.deleteGroup(name)
		switch {
		case err != nil:
			d.ErrorCode = errorCode(err)
		case seq > 0:
			last = seq
			deleted = append(deleted, len(resp.Groups))
		}
		resp.Groups = append(resp.Groups, d)
	}
	if last > 0 {
		if err := c.store.flush(ctx, last); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			for _, i := range deleted {
				resp.Groups[i].ErrorCode = errorCode(err)
			}
		}
	}
	return resp, nil
}

// deleteGroup removes one group; it returns the sequence number of the log record to
// flush, 0 when nothing was written.
func (c *Coordinator) deleteGroup(name string) (uint64, error) {
	g, err := c.lockGroup(name, false)
	if err != nil {
		return 0, err
	}
	if g == nil {
		return 0, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.state != stateEmpty || len(g.members) > 0 || len(g.pending) > 0 {
		return 0, kerr.NonEmptyGroup
	}
	return c.dropGroup(g)
}

// dropGroup deletes the offsets of g, which is empty, and removes it; g.mu is held. It
// returns the sequence number of the log record to flush, 0 when nothing was written.
func (c *Coordinator) dropGroup(g *group) (uint64, error) {
	var seq uint64
	if c.store.hasGroup(g.name) {
		var err error
		if seq, err = c.store.write(&op{kind: opDeleteGroup, group: g.name}); err != nil {
			return 0, err
		}
	}
	c.remove(g)
	return seq, nil
}
