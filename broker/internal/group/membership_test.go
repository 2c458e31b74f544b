package group

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinValidation(t *testing.T) {
	c := newCoord(t, Options{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute})
	// An existing group that uses "range" with protocol type "consumer".
	first := join(t, c, tm{group: "existing"})
	wantCode(t, "first join", first.ErrorCode, nil)

	for _, tc := range []struct {
		name string
		m    tm
		mod  func(*kmsg.JoinGroupRequest)
		want *kerr.Error
	}{
		{"empty group id", tm{}, func(r *kmsg.JoinGroupRequest) { r.Group = "" }, kerr.InvalidGroupID},
		{"session too short", tm{session: 500 * time.Millisecond}, nil, kerr.InvalidSessionTimeout},
		{"session too long", tm{session: 2 * time.Minute}, nil, kerr.InvalidSessionTimeout},
		{"no protocols", tm{group: "new"}, func(r *kmsg.JoinGroupRequest) { r.Protocols = []kmsg.JoinGroupRequestProtocol{} }, kerr.InconsistentGroupProtocol},
		{"no protocol type", tm{group: "new"}, func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "" }, kerr.InconsistentGroupProtocol},
		{"other protocol type", tm{group: "existing"}, func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }, kerr.InconsistentGroupProtocol},
		{"no common protocol", tm{group: "existing", protocols: protos("roundrobin")}, nil, kerr.InconsistentGroupProtocol},
		{"unknown member of unknown group", tm{group: "nope", member: "m-1"}, nil, kerr.UnknownMemberID},
		{"unknown member of existing group", tm{group: "existing", member: "m-1"}, nil, kerr.UnknownMemberID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := defaults(tc.m)
			req := m.req()
			if tc.mod != nil {
				tc.mod(req)
			}
			resp, w := c.join(req, Client{ID: "client"})
			if w != nil {
				t.Fatal("join waits; want an immediate error")
			}
			wantCode(t, "join", resp.ErrorCode, tc.want)
		})
	}
	// Failed joins leave no group behind.
	if got := c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups; len(got) != 1 || got[0].Group != "existing" {
		t.Fatalf("groups after failed joins: %+v", got)
	}
}

func TestTwoStepJoin(t *testing.T) {
	for _, tc := range []struct {
		version     int16
		wantTwoStep bool
	}{{-1, false}, {3, false}, {4, true}, {9, true}} {
		c := newCoord(t, Options{})
		resp := recv(t, joinAsync(c, tm{version: tc.version}))
		if tc.wantTwoStep {
			wantCode(t, "first step", resp.ErrorCode, kerr.MemberIDRequired)
			if !strings.HasPrefix(resp.MemberID, "client-") {
				t.Fatalf("v%d: member ID %q does not start with the client ID", tc.version, resp.MemberID)
			}
			resp = recv(t, joinAsync(c, tm{version: tc.version, member: resp.MemberID}))
		}
		wantCode(t, "join", resp.ErrorCode, nil)
		if resp.Generation != 1 || resp.LeaderID != resp.MemberID || len(resp.Members) != 1 || *resp.Protocol != "range" {
			t.Fatalf("v%d: join answer %+v", tc.version, resp)
		}
	}
}

func TestRebalance(t *testing.T) {
	c := newCoord(t, Options{})
	a := join(t, c, tm{})
	sa := recv(t, syncAsync(c, "g", a.MemberID, 1, map[string]string{a.MemberID: "A1"}))
	if string(sa.MemberAssignment) != "A1" || *sa.Protocol != "range" || *sa.ProtocolType != "consumer" {
		t.Fatalf("sync answer %+v", sa)
	}
	wantCode(t, "stable heartbeat", heartbeat(c, "g", a.MemberID, 1, ""), nil)

	// B joins: A learns of the rebalance through its heartbeat and rejoins.
	bch := joinFull(c, tm{})
	waitRebalance(t, c, "g", a.MemberID, 1, "")
	wantCode(t, "old generation sync", recv(t, syncAsync(c, "g", a.MemberID, 1, nil)).ErrorCode, kerr.RebalanceInProgress)
	a2 := recv(t, joinAsync(c, tm{member: a.MemberID}))
	b := recv(t, bch)
	for _, r := range []*kmsg.JoinGroupResponse{a2, b} {
		wantCode(t, "rejoin", r.ErrorCode, nil)
		if r.Generation != 2 || r.LeaderID != a.MemberID {
			t.Fatalf("join answer %+v", r)
		}
	}
	if len(a2.Members) != 2 || len(b.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d; want 2 and 0", len(a2.Members), len(b.Members))
	}
	wantCode(t, "completing heartbeat", heartbeat(c, "g", b.MemberID, 2, ""), nil)
	wantCode(t, "old generation heartbeat", heartbeat(c, "g", a.MemberID, 1, ""), kerr.IllegalGeneration)
	wantCode(t, "unknown member heartbeat", heartbeat(c, "g", "nobody", 2, ""), kerr.UnknownMemberID)
	wantCode(t, "unknown group heartbeat", heartbeat(c, "other", "nobody", 2, ""), kerr.UnknownMemberID)

	// The follower waits for the leader's assignment.
	fb := syncAsync(c, "g", b.MemberID, 2, nil)
	notYet(t, fb, 50*time.Millisecond)
	fa := syncAsync(c, "g", a.MemberID, 2, map[string]string{a.MemberID: "A2", b.MemberID: "B2"})
	if got := string(recv(t, fb).MemberAssignment); got != "B2" {
		t.Fatalf("follower assignment %q", got)
	}
	if got := string(recv(t, fa).MemberAssignment); got != "A2" {
		t.Fatalf("leader assignment %q", got)
	}
	// A follower rejoining with unchanged protocols in a stable group gets the current
	// generation without a rebalance.
	again := recv(t, joinAsync(c, tm{member: b.MemberID}))
	if again.Generation != 2 || again.ErrorCode != 0 {
		t.Fatalf("follower rejoin %+v", again)
	}
	wantCode(t, "heartbeat after follower rejoin", heartbeat(c, "g", a.MemberID, 2, ""), nil)

	// B leaves; A is alone in generation 3.
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.Version = 0
	lreq.Group = "g"
	lreq.MemberID = b.MemberID
	wantCode(t, "leave", c.LeaveGroup(lreq).ErrorCode, nil)
	wantCode(t, "leave again", c.LeaveGroup(lreq).ErrorCode, kerr.UnknownMemberID)
	wantCode(t, "heartbeat after leave", heartbeat(c, "g", a.MemberID, 2, ""), kerr.RebalanceInProgress)
	a3 := recv(t, joinAsync(c, tm{member: a.MemberID}))
	if a3.Generation != 3 || len(a3.Members) != 1 {
		t.Fatalf("join after leave %+v", a3)
	}
}

func TestSessionExpiry(t *testing.T) {
	// Waiting in JoinGroup (here through the initial delay) keeps a member alive past
	// its session timeout.
	delayed := newCoord(t, Options{InitialRebalanceDelay: 300 * time.Millisecond})
	if r := recv(t, joinAsync(delayed, tm{version: 3, session: 100 * time.Millisecond})); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join through the initial delay: %+v", r)
	}

	c := newCoord(t, Options{})
	short := tm{session: 150 * time.Millisecond, rebalance: 2 * time.Second}
	a := join(t, c, short)
	recv(t, syncAsync(c, "g", a.MemberID, 1, nil))
	bch := joinFull(c, tm{})
	waitRebalance(t, c, "g", a.MemberID, 1, "")
	a2 := recv(t, joinAsync(c, tm{member: a.MemberID, session: short.session, rebalance: short.rebalance}))
	b := recv(t, bch)
	if a2.Generation != 2 || b.Generation != 2 {
		t.Fatalf("generations %d %d", a2.Generation, b.Generation)
	}
	recv(t, syncAsync(c, "g", a.MemberID, 2, nil))
	recv(t, syncAsync(c, "g", b.MemberID, 2, nil))
	// A stops heartbeating; B keeps going and is told to rejoin once A expires.
	start := time.Now()
	for {
		code := heartbeat(c, "g", b.MemberID, 2, "")
		if code == kerr.RebalanceInProgress.Code {
			break
		}
		wantCode(t, "heartbeat", code, nil)
		if time.Since(start) > 3*time.Second {
			t.Fatal("A never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("A expired after %v, before its session timeout", waited)
	}
	b3 := recv(t, joinAsync(c, tm{member: b.MemberID}))
	if b3.Generation != 3 || len(b3.Members) != 1 || b3.LeaderID != b.MemberID {
		t.Fatalf("join after expiry %+v", b3)
	}
	wantCode(t, "expired member heartbeat", heartbeat(c, "g", a.MemberID, 2, ""), kerr.UnknownMemberID)
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	c := newCoord(t, Options{})
	m := tm{rebalance: 200 * time.Millisecond}
	a := join(t, c, m)
	recv(t, syncAsync(c, "g", a.MemberID, 1, nil))
	start := time.Now()
	b := join(t, c, m) // A never rejoins
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("join completed after %v, before the rebalance timeout", waited)
	}
	if b.Generation != 2 || len(b.Members) != 1 || b.LeaderID != b.MemberID {
		t.Fatalf("join answer %+v", b)
	}
	wantCode(t, "dropped member heartbeat", heartbeat(c, "g", a.MemberID, 1, ""), kerr.UnknownMemberID)
}

func TestSyncTimeoutDropsMembersThatDoNotSync(t *testing.T) {
	c := newCoord(t, Options{})
	m := tm{rebalance: 200 * time.Millisecond}
	a := join(t, c, m)
	recv(t, syncAsync(c, "g", a.MemberID, 1, nil))
	bch := joinFull(c, m)
	waitRebalance(t, c, "g", a.MemberID, 1, "")
	a2 := recv(t, joinAsync(c, tm{member: a.MemberID, rebalance: m.rebalance}))
	b := recv(t, bch)
	start := time.Now()
	recv(t, syncAsync(c, "g", a2.MemberID, 2, nil)) // B never syncs
	for heartbeat(c, "g", b.MemberID, 2, "") == 0 {
		if time.Since(start) > 3*time.Second {
			t.Fatal("B was never dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("B dropped after %v, before the rebalance timeout", waited)
	}
	wantCode(t, "unsynced member heartbeat", heartbeat(c, "g", b.MemberID, 2, ""), kerr.UnknownMemberID)
	wantCode(t, "synced member heartbeat", heartbeat(c, "g", a.MemberID, 2, ""), kerr.RebalanceInProgress)
}

func TestInitialRebalanceDelay(t *testing.T) {
	c := newCoord(t, Options{InitialRebalanceDelay: 300 * time.Millisecond})
	start := time.Now()
	ach := joinAsync(c, tm{version: 3})
	time.Sleep(50 * time.Millisecond)
	bch := joinAsync(c, tm{version: 3}) // extends the delay once more
	a, b := recv(t, ach), recv(t, bch)
	if waited := time.Since(start); waited < 550*time.Millisecond {
		t.Fatalf("first rebalance completed after %v", waited)
	}
	if a.Generation != 1 || b.Generation != 1 || a.LeaderID != b.LeaderID {
		t.Fatalf("members landed in different generations: %+v %+v", a, b)
	}
}

func TestProtocolSelection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members [][]string
		want    string
	}{
		{"single", [][]string{{"sticky", "range"}}, "sticky"},
		{"only common one", [][]string{{"sticky", "range"}, {"range"}}, "range"},
		{"majority preference", [][]string{{"range", "roundrobin"}, {"roundrobin", "range"}, {"roundrobin", "range"}}, "roundrobin"},
		{"tie goes to first member", [][]string{{"range", "roundrobin"}, {"roundrobin", "range"}}, "range"},
		{"skip uncommon first choice", [][]string{{"cooperative-sticky", "range"}, {"range"}, {"cooperative-sticky", "range"}}, "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCoord(t, Options{InitialRebalanceDelay: 150 * time.Millisecond})
			var chs []<-chan *kmsg.JoinGroupResponse
			for _, ps := range tc.members {
				chs = append(chs, joinAsync(c, tm{version: 3, protocols: protos(ps...)}))
				time.Sleep(5 * time.Millisecond) // keep join order
			}
			for _, ch := range chs {
				r := recv(t, ch)
				wantCode(t, "join", r.ErrorCode, nil)
				if *r.Protocol != tc.want {
					t.Fatalf("selected %q, want %q", *r.Protocol, tc.want)
				}
				for _, m := range r.Members {
					if string(m.ProtocolMetadata) != "md-"+tc.want {
						t.Fatalf("leader got metadata %q for %s", m.ProtocolMetadata, tc.want)
					}
				}
			}
		})
	}
}

func TestStaticMembership(t *testing.T) {
	c := newCoord(t, Options{})
	both := protos("range", "roundrobin")
	a := join(t, c, tm{instance: "ia", protocols: both})
	if !strings.HasPrefix(a.MemberID, "ia-") {
		t.Fatalf("static member ID %q does not start with its instance ID", a.MemberID)
	}
	bch := joinFull(c, tm{instance: "ib", protocols: both})
	waitRebalance(t, c, "g", a.MemberID, 1, "ia")
	a2 := recv(t, joinAsync(c, tm{member: a.MemberID, instance: "ia", protocols: both}))
	b := recv(t, bch)
	if a2.LeaderID != a.MemberID || b.Generation != 2 {
		t.Fatalf("answers %+v %+v", a2, b)
	}
	for _, m := range a2.Members {
		if m.InstanceID == nil {
			t.Fatalf("leader's member list lacks instance IDs: %+v", a2.Members)
		}
	}
	fb := syncAsync(c, "g", b.MemberID, 2, nil)
	recv(t, syncAsync(c, "g", a.MemberID, 2, map[string]string{a.MemberID: "A", b.MemberID: "B"}))
	recv(t, fb)

	// B restarts: same instance ID, no member ID, same protocols. It replaces its old
	// member ID without a rebalance and keeps its assignment.
	b2 := join(t, c, tm{instance: "ib", protocols: both})
	wantCode(t, "static rejoin", b2.ErrorCode, nil)
	if b2.MemberID == b.MemberID || b2.Generation != 2 || b2.LeaderID != a.MemberID {
		t.Fatalf("static rejoin answer %+v", b2)
	}
	if got := string(recv(t, syncAsync(c, "g", b2.MemberID, 2, nil)).MemberAssignment); got != "B" {
		t.Fatalf("replaced member's assignment %q", got)
	}
	wantCode(t, "leader heartbeat", heartbeat(c, "g", a.MemberID, 2, "ia"), nil)
	wantCode(t, "fenced heartbeat", heartbeat(c, "g", b.MemberID, 2, "ib"), kerr.FencedInstanceID)
	wantCode(t, "fenced commit", commitCode(t, commit2(t, c, b.MemberID, "ib")), kerr.FencedInstanceID)
	wantCode(t, "new member heartbeat", heartbeat(c, "g", b2.MemberID, 2, "ib"), nil)
	fenced := recv(t, joinAsync(c, tm{member: b.MemberID, instance: "ib"}))
	wantCode(t, "fenced join", fenced.ErrorCode, kerr.FencedInstanceID)

	// The leader restarts: v9 tells it to skip assignment, v8 hides that it leads.
	a3 := join(t, c, tm{instance: "ia", protocols: both})
	if a3.LeaderID != a3.MemberID || !a3.SkipAssignment || len(a3.Members) != 2 || a3.Generation != 2 {
		t.Fatalf("v9 static leader rejoin %+v", a3)
	}
	a4 := join(t, c, tm{version: 8, instance: "ia", protocols: both})
	if a4.LeaderID != a3.MemberID || len(a4.Members) != 0 || a4.Generation != 2 {
		t.Fatalf("v8 static leader rejoin %+v", a4)
	}
	wantCode(t, "no rebalance", heartbeat(c, "g", b2.MemberID, 2, "ib"), nil)

	// Rejoining so that the group's protocol would change rebalances.
	ch := joinAsync(c, tm{instance: "ib", protocols: protos("roundrobin")})
	waitRebalance(t, c, "g", a4.MemberID, 2, "ia")
	a5 := recv(t, joinAsync(c, tm{member: a4.MemberID, instance: "ia", protocols: both}))
	b3 := recv(t, ch)
	if a5.Generation != 3 || b3.Generation != 3 || *b3.Protocol != "roundrobin" {
		t.Fatalf("after protocol change: %+v %+v", a5, b3)
	}

	// An admin removes a static member by instance ID (LeaveGroup v3+).
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.Version = 5
	lreq.Group = "g"
	lreq.Members = []kmsg.LeaveGroupRequestMember{
		{InstanceID: kmsg.StringPtr("ib")},
		{InstanceID: kmsg.StringPtr("nobody")},
		{MemberID: b.MemberID, InstanceID: kmsg.StringPtr("ia")},
	}
	lresp := c.LeaveGroup(lreq)
	wantCode(t, "leave", lresp.ErrorCode, nil)
	wantCode(t, "leave by instance", lresp.Members[0].ErrorCode, nil)
	wantCode(t, "leave unknown instance", lresp.Members[1].ErrorCode, kerr.UnknownMemberID)
	wantCode(t, "leave fenced", lresp.Members[2].ErrorCode, kerr.FencedInstanceID)
	wantCode(t, "removed member heartbeat", heartbeat(c, "g", b3.MemberID, 3, "ib"), kerr.UnknownMemberID)
}

// commit2 commits one offset as a member of generation 2 of group g.
func commit2(t *testing.T, c *Coordinator, member, instance string) *kmsg.OffsetCommitResponse {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 7
	req.Group = "g"
	req.MemberID = member
	req.InstanceID = kmsg.StringPtr(instance)
	req.Generation = 2
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}
	req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
	resp, err := c.OffsetCommit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestPendingMemberExpires(t *testing.T) {
	c := newCoord(t, Options{})
	a := join(t, c, tm{})
	recv(t, syncAsync(c, "g", a.MemberID, 1, nil))
	// A new member gets its ID but never comes back; the group stays stable and the ID
	// is forgotten after the session timeout.
	first := recv(t, joinAsync(c, tm{session: 100 * time.Millisecond}))
	wantCode(t, "first step", first.ErrorCode, kerr.MemberIDRequired)
	wantCode(t, "heartbeat", heartbeat(c, "g", a.MemberID, 1, ""), nil)
	time.Sleep(250 * time.Millisecond)
	late := recv(t, joinAsync(c, tm{member: first.MemberID}))
	wantCode(t, "late second step", late.ErrorCode, kerr.UnknownMemberID)
}

func TestDescribeAndListGroups(t *testing.T) {
	c := newCoord(t, Options{})
	a := join(t, c, tm{group: "stable", instance: "i"})
	recv(t, syncAsync(c, "stable", a.MemberID, 1, map[string]string{a.MemberID: "assigned"}))
	commit(t, c, "offsets-only", "", -1, "t", map[int32]int64{0: 1})

	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Version = 5
	dreq.Groups = []string{"stable", "offsets-only", "missing"}
	dreq.IncludeAuthorizedOperations = true
	d := c.DescribeGroups(dreq).Groups
	if d[0].State != "Stable" || d[0].Protocol != "range" || d[0].ProtocolType != "consumer" || len(d[0].Members) != 1 {
		t.Fatalf("stable group %+v", d[0])
	}
	m := d[0].Members[0]
	if m.MemberID != a.MemberID || *m.InstanceID != "i" || m.ClientID != "client" || string(m.ProtocolMetadata) != "md-range" || string(m.MemberAssignment) != "assigned" {
		t.Fatalf("member %+v", m)
	}
	if d[1].State != "Empty" || len(d[1].Members) != 0 {
		t.Fatalf("offsets-only group %+v", d[1])
	}
	if d[2].State != "Dead" || d[2].ErrorCode != 0 {
		t.Fatalf("missing group %+v", d[2])
	}
	if d[0].AuthorizedOperations != groupOperations {
		t.Fatalf("authorized operations %d", d[0].AuthorizedOperations)
	}

	for _, tc := range []struct {
		states []string
		want   []string
	}{
		{nil, []string{"offsets-only/Empty", "stable/Stable"}},
		{[]string{"stable"}, []string{"stable/Stable"}},
		{[]string{"Empty", "PreparingRebalance"}, []string{"offsets-only/Empty"}},
		{[]string{"Dead"}, nil},
	} {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 4
		req.StatesFilter = tc.states
		var got []string
		for _, g := range c.ListGroups(req).Groups {
			got = append(got, g.Group+"/"+g.GroupState)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("states %v: listed %v, want %v", tc.states, got, tc.want)
		}
	}
}

func TestDeleteGroups(t *testing.T) {
	dir := t.TempDir()
	c := newCoord(t, Options{Dir: dir, Sync: true})
	a := join(t, c, tm{group: "busy"})
	recv(t, syncAsync(c, "busy", a.MemberID, 1, nil))
	commit(t, c, "idle", "", -1, "t", map[int32]int64{0: 5})
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"busy", "idle", "missing"}
	resp, err := c.DeleteGroups(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "busy", resp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "idle", resp.Groups[1].ErrorCode, nil)
	wantCode(t, "missing", resp.Groups[2].ErrorCode, kerr.GroupIDNotFound)
	if got := fetched(c, "idle"); len(got) != 0 {
		t.Fatalf("deleted group still has offsets %v", got)
	}
	c.Close()
	c2 := newCoord(t, Options{Dir: dir})
	if got := fetched(c2, "idle"); len(got) != 0 {
		t.Fatalf("deleted group's offsets came back after reopen: %v", got)
	}
}

func TestWaitingRequestsAreAnswered(t *testing.T) {
	// P, A (static) and Q start together and land in generation 1.
	c := newCoord(t, Options{InitialRebalanceDelay: 200 * time.Millisecond})
	pch := joinAsync(c, tm{version: 3})
	time.Sleep(5 * time.Millisecond)
	ach := joinAsync(c, tm{version: 3, instance: "ia"})
	qch := joinAsync(c, tm{version: 3})
	p, a, q := recv(t, pch), recv(t, ach), recv(t, qch)
	if p.LeaderID != p.MemberID || len(p.Members) != 3 || a.Generation != 1 || q.Generation != 1 {
		t.Fatalf("first generation: %+v %+v %+v", p, a, q)
	}

	// A and Q wait for the leader's assignment when R joins, starting a rebalance.
	async := syncAsync(c, "g", a.MemberID, 1, nil)
	qsync := syncAsync(c, "g", q.MemberID, 1, nil)
	notYet(t, async, 20*time.Millisecond)
	rch := joinAsync(c, tm{version: 3})
	wantCode(t, "waiting sync", recv(t, async).ErrorCode, kerr.RebalanceInProgress)
	wantCode(t, "waiting sync", recv(t, qsync).ErrorCode, kerr.RebalanceInProgress)

	// A waits in JoinGroup (Q has not rejoined) when its instance restarts: the old
	// request is fenced.
	ajoin := joinAsync(c, tm{member: a.MemberID, instance: "ia"})
	notYet(t, ajoin, 20*time.Millisecond)
	newA := joinAsync(c, tm{instance: "ia"})
	wantCode(t, "replaced join", recv(t, ajoin).ErrorCode, kerr.FencedInstanceID)

	// P waits in JoinGroup and is removed by a leave sent on another connection.
	pjoin := joinAsync(c, tm{version: 3, member: p.MemberID})
	notYet(t, pjoin, 20*time.Millisecond)
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.Version = 1
	lreq.Group = "g"
	lreq.MemberID = p.MemberID
	wantCode(t, "leave", c.LeaveGroup(lreq).ErrorCode, nil)
	wantCode(t, "removed join", recv(t, pjoin).ErrorCode, kerr.UnknownMemberID)

	// Q rejoins and the rebalance completes with the new A as leader.
	q2 := recv(t, joinAsync(c, tm{member: q.MemberID}))
	a2, r := recv(t, newA), recv(t, rch)
	if q2.Generation != 2 || a2.Generation != 2 || r.Generation != 2 || a2.LeaderID != a2.MemberID || len(a2.Members) != 3 {
		t.Fatalf("second generation: %+v %+v", q2, a2)
	}

	// Closing answers a request still waiting.
	qsync = syncAsync(c, "g", q2.MemberID, 2, nil)
	notYet(t, qsync, 20*time.Millisecond)
	c.Close()
	wantCode(t, "sync at close", recv(t, qsync).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "heartbeat after close", heartbeat(c, "g", q2.MemberID, 2, ""), kerr.NotCoordinator)
}
