package group

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a group's place in the classic rebalance protocol, named as Kafka names it in
// DescribeGroups and ListGroups.
type state int8

const (
	stateEmpty      state = iota // no members; may still hold offsets
	statePreparing               // waiting for members to (re)join
	stateCompleting              // joined; waiting for the leader's assignment
	stateStable                  // assignment handed out
	stateDead                    // removed; a request that finds it looks again
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s state) String() string { return stateNames[s] }

// joinWaiter is a JoinGroup request blocked until its rebalance completes. The channel
// holds one answer so that answering never blocks, even if the client has gone; a
// waiter is answered once and then dropped by its member.
type joinWaiter struct {
	version int16
	ch      chan *kmsg.JoinGroupResponse
}

func newJoinWaiter(version int16) *joinWaiter {
	return &joinWaiter{version: version, ch: make(chan *kmsg.JoinGroupResponse, 1)}
}

func (w *joinWaiter) answer(resp *kmsg.JoinGroupResponse) {
	select {
	case w.ch <- resp:
	default: // already answered; never block under the group's lock
	}
}

func (w *joinWaiter) fail(memberID string, err *kerr.Error) {
	resp := &kmsg.JoinGroupResponse{Version: w.version}
	resp.Default()
	resp.ErrorCode = err.Code
	resp.MemberID = memberID
	w.answer(resp)
}

// syncWaiter is a SyncGroup request blocked until the leader's assignment arrives.
type syncWaiter struct {
	version int16
	ch      chan *kmsg.SyncGroupResponse
}

func newSyncWaiter(version int16) *syncWaiter {
	return &syncWaiter{version: version, ch: make(chan *kmsg.SyncGroupResponse, 1)}
}

func (w *syncWaiter) answer(resp *kmsg.SyncGroupResponse) {
	select {
	case w.ch <- resp:
	default: // already answered; never block under the group's lock
	}
}

func (w *syncWaiter) fail(err *kerr.Error) {
	resp := &kmsg.SyncGroupResponse{Version: w.version}
	resp.Default()
	resp.ErrorCode = err.Code
	w.answer(resp)
}

// member is one member of a group.
type member struct {
	id         string
	instanceID string // "" for dynamic members
	clientID   string
	clientHost string
	protocols  []kmsg.JoinGroupRequestProtocol
	session    time.Duration
	rebalance  time.Duration
	assignment []byte

	join *joinWaiter // set while the member waits in JoinGroup
	sync *syncWaiter // set while the member waits in SyncGroup

	// deadline is when the session expires unless a heartbeat (or a join, sync or
	// commit) comes first; timer fires at or after it and checks.
	deadline time.Time
	timer    *time.Timer
}

func (m *member) instancePtr() *string {
	if m.instanceID == "" {
		return nil
	}
	return &m.instanceID
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(protocol string) bool {
	return slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == protocol })
}

// sameProtocols reports whether a join brings exactly the protocols the member has.
func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// group is one consumer group. Every field is guarded by mu; timers take mu when they
// fire and check that what they were armed for still holds.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        state
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []*member         // join order: leader election, listings
	static       map[string]string // instance ID -> member ID
	pending      map[string]*time.Timer
	pendingSync  map[string]bool // members of this generation that have not synced yet

	joinTimer *time.Timer
	joinSeq   uint64 // invalidates a fired join timer that lost the race for mu
	syncTimer *time.Timer

	// The first rebalance out of Empty waits InitialRebalanceDelay, and again (up to the
	// rebalance timeout) for as long as new members keep arriving.
	initialDelay   bool
	delayRemaining time.Duration
	newMemberAdded bool
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c:       c,
		name:    name,
		members: map[string]*member{},
		static:  map[string]string{},
		pending: map[string]*time.Timer{},
	}
}

// fenced reports a static member that presents an instance ID now held by another
// member ID: an older incarnation of a restarted instance.
func (g *group) fenced(memberID string, instanceID *string) bool {
	if instanceID == nil || *instanceID == "" {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// checkMember validates the member of a Heartbeat, SyncGroup or OffsetCommit.
func (g *group) checkMember(memberID string, instanceID *string, generation int32) (*member, *kerr.Error) {
	if g.fenced(memberID, instanceID) {
		return nil, kerr.FencedInstanceID
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration
	}
	return m, nil
}

// supportsProtocols reports whether a joining member could be part of the group: the
// same protocol type, and at least one protocol every member supports.
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.order {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol runs Kafka's vote: among the protocols every member supports, each
// member votes for the one it lists first; most votes wins, ties going to the order of
// the longest-standing member.
func (g *group) selectProtocol() string {
	if len(g.order) == 0 {
		return ""
	}
	common := func(name string) bool {
		for _, m := range g.order {
			if !m.supports(name) {
				return false
			}
		}
		return true
	}
	votes := map[string]int{}
	for _, m := range g.order {
		for _, p := range m.protocols {
			if common(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, most := "", 0
	for _, p := range g.order[0].protocols {
		if votes[p.Name] > most {
			best, most = p.Name, votes[p.Name]
		}
	}
	return best
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.order {
		d = max(d, m.rebalance)
	}
	return d
}

func (g *group) addMember(m *member, protocolType string) {
	if len(g.members) == 0 {
		g.protocolType = protocolType
		g.logMembers(true)
	}
	g.members[m.id] = m
	g.order = append(g.order, m)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	if g.state == statePreparing && g.initialDelay {
		g.newMemberAdded = true
	}
	g.touch(m)
	m.timer = time.AfterFunc(m.session, func() { g.onSessionTimer(m) })
}

// removeMember drops m and answers any request it has waiting.
func (g *group) removeMember(m *member) {
	delete(g.members, m.id)
	if len(g.members) == 0 {
		g.logMembers(false)
	}
	g.order = slices.DeleteFunc(g.order, func(o *member) bool { return o == m })
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	delete(g.pendingSync, m.id)
	m.timer.Stop()
	if m.join != nil {
		m.join.fail(m.id, kerr.UnknownMemberID)
		m.join = nil
	}
	if m.sync != nil {
		m.sync.fail(kerr.UnknownMemberID)
		m.sync = nil
	}
	if g.leader == m.id {
		g.electLeader()
	}
}

// electLeader picks a member waiting in JoinGroup if there is one, so that the leader
// gets the member list; otherwise the longest-standing member.
func (g *group) electLeader() {
	g.leader = ""
	for _, m := range g.order {
		if m.join != nil {
			g.leader = m.id
			return
		}
	}
	if len(g.order) > 0 {
		g.leader = g.order[0].id
	}
}

// removeAndRebalance drops m and lets the others know through a rebalance.
func (g *group) removeAndRebalance(m *member, reason string) {
	g.c.log.Info("member left group", "group", g.name, "member", m.id, "reason", reason)
	g.removeMember(m)
	switch g.state {
	case stateStable, stateCompleting:
		g.prepareRebalance()
	case statePreparing:
		g.tryCompleteJoin()
	}
}

// touch restarts m's session.
func (g *group) touch(m *member) {
	m.deadline = time.Now().Add(m.session)
}

func (g *group) onSessionTimer(m *member) {
	g.mu.Lock()
	defer g.c.unlock(g)
	if g.c.closing.Load() || g.state == stateDead || g.members[m.id] != m {
		return
	}
	if m.join != nil || m.sync != nil {
		// Waiting members are alive; the rebalance or sync timeout bounds the wait.
		m.timer.Reset(m.session)
		return
	}
	if left := time.Until(m.deadline); left > 0 {
		m.timer.Reset(left)
		return
	}
	g.removeAndRebalance(m, "session timeout")
}

// maybePrepareRebalance starts a rebalance unless one is under way.
func (g *group) maybePrepareRebalance() {
	if g.state == stateStable || g.state == stateCompleting || g.state == stateEmpty {
		g.prepareRebalance()
	}
}

func (g *group) prepareRebalance() {
	if g.state == stateCompleting {
		for _, m := range g.order {
			if m.sync != nil {
				m.sync.fail(kerr.RebalanceInProgress)
				m.sync = nil
			}
		}
	}
	g.pendingSync = nil
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	fromEmpty := g.state == stateEmpty
	g.state = statePreparing
	timeout := g.rebalanceTimeout()
	if delay := g.c.opts.InitialRebalanceDelay; fromEmpty && delay > 0 {
		g.initialDelay = true
		g.newMemberAdded = false
		g.delayRemaining = max(timeout-delay, 0)
		g.armJoinTimer(delay)
		return
	}
	g.initialDelay = false
	g.armJoinTimer(timeout)
	g.tryCompleteJoin()
}

func (g *group) armJoinTimer(d time.Duration) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinSeq++
	seq := g.joinSeq
	g.joinTimer = time.AfterFunc(d, func() { g.onJoinTimer(seq) })
}

func (g *group) onJoinTimer(seq uint64) {
	g.mu.Lock()
	defer g.c.unlock(g)
	if g.c.closing.Load() || seq != g.joinSeq || g.state != statePreparing {
		return
	}
	if g.initialDelay {
		if g.newMemberAdded && g.delayRemaining > 0 {
			g.newMemberAdded = false
			d := min(g.c.opts.InitialRebalanceDelay, g.delayRemaining)
			g.delayRemaining -= d
			g.armJoinTimer(d)
			return
		}
		g.initialDelay = false
	}
	g.completeJoin()
}

// tryCompleteJoin ends the join phase early once every member has rejoined.
func (g *group) tryCompleteJoin() {
	if g.state != statePreparing || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.order {
		if m.join == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: dynamic members that did not rejoin are dropped (a
// static member keeps its place until its session expires), the generation advances and
// every waiting member gets its JoinGroup answer, the leader with the member list.
func (g *group) completeJoin() {
	g.joinSeq++
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	for _, m := range slices.Clone(g.order) {
		if m.join == nil && m.instanceID == "" {
			g.c.log.Info("member left group", "group", g.name, "member", m.id, "reason", "did not rejoin within the rebalance timeout")
			g.removeMember(m)
		}
	}
	if g.leader == "" || g.members[g.leader].join == nil {
		g.electLeader()
	}
	g.generation++
	if len(g.members) == 0 {
		g.state = stateEmpty
		g.protocol = ""
		g.leader = ""
		g.c.log.Info("group is empty", "group", g.name, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	g.state = stateCompleting
	g.pendingSync = make(map[string]bool, len(g.members))
	for _, m := range g.order {
		g.pendingSync[m.id] = true
		if m.join == nil {
			continue
		}
		m.join.answer(g.joinResponse(m.join.version, m.id, m.id == g.leader))
		m.join = nil
		g.touch(m)
	}
	gen := g.generation
	g.syncTimer = time.AfterFunc(g.rebalanceTimeout(), func() { g.onSyncTimer(gen) })
	g.c.log.Info("group rebalanced", "group", g.name, "generation", g.generation, "protocol", g.protocol, "members", len(g.members), "leader", g.leader)
}

// joinResponse is a successful JoinGroup answer for memberID in the current generation.
func (g *group) joinResponse(version int16, memberID string, withMembers bool) *kmsg.JoinGroupResponse {
	resp := &kmsg.JoinGroupResponse{Version: version}
	resp.Default()
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = memberID
	if withMembers {
		for _, m := range g.order {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = m.id
			jm.InstanceID = m.instancePtr()
			jm.ProtocolMetadata = m.metadata(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

// onSyncTimer drops the members of generation gen that never sent SyncGroup within the
// rebalance timeout, and rebalances without them.
func (g *group) onSyncTimer(gen int32) {
	g.mu.Lock()
	defer g.c.unlock(g)
	if g.c.closing.Load() || gen != g.generation || (g.state != stateCompleting && g.state != stateStable) || len(g.pendingSync) == 0 {
		return
	}
	for _, m := range slices.Clone(g.order) {
		if g.pendingSync[m.id] {
			g.c.log.Info("member left group", "group", g.name, "member", m.id, "reason", "did not sync within the rebalance timeout")
			g.removeMember(m)
		}
	}
	g.prepareRebalance()
}

// stopTimers stops every timer of the group; the coordinator is closing.
func (g *group) stopTimers() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	for _, m := range g.order {
		m.timer.Stop()
		if m.join != nil {
			m.join.fail(m.id, kerr.NotCoordinator)
			m.join = nil
		}
		if m.sync != nil {
			m.sync.fail(kerr.NotCoordinator)
			m.sync = nil
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
}
