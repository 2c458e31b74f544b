package runtime

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balancerProtocol names the group protocol of eddy applications; every member of an
// application's group speaks it.
const balancerProtocol = "eddy-tasks"

// memberInfo is the user data each member sends when joining: where it serves
// interactive queries, which instance it belongs to (its threads share the ID), which
// tasks it has local state for and which it keeps as standbys, caught up, so the
// leader can send a task where restoring it is cheap.
type memberInfo struct {
	Server   string   `json:"server,omitempty"`
	Instance string   `json:"instance,omitempty"`
	State    []TaskID `json:"state,omitempty"`
	Standby  []TaskID `json:"standby,omitempty"`
	// assigned receives the group's task map from each assignment (see clusterInfo);
	// it travels with the info because the balancer knows the App only through it.
	assigned func(*clusterInfo)
}

// taskBalancer is the group balancer of a stream thread's consumer. It assigns tasks,
// not partitions: all source partitions of a task (one per source topic of its
// sub-topology, same partition number) go to the same member. It is eager: every
// rebalance revokes everything, and the thread keeps the state of the tasks it gets
// back.
type taskBalancer struct {
	plan     *appPlan
	info     func() memberInfo
	standbys int // Config.StandbyReplicas
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

func (*taskBalancer) ProtocolName() string { return balancerProtocol }

func (*taskBalancer) IsCooperative() bool { return false }

// JoinGroupMetadata encodes the member's subscription with the partitions it had,
// which the leader reads back as tasks to keep where they are.
func (b *taskBalancer) JoinGroupMetadata(topics []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 2
	meta.Topics = topics
	meta.Generation = generation
	for _, t := range slices.Sorted(maps.Keys(current)) {
		owned := kmsg.NewConsumerMemberMetadataOwnedPartition()
		owned.Topic, owned.Partitions = t, current[t]
		meta.OwnedPartitions = append(meta.OwnedPartitions, owned)
	}
	// Encoding a struct of a string and integers cannot fail.
	meta.UserData, _ = json.Marshal(b.info())
	return meta.AppendTo(nil)
}

// ParseSyncAssignment returns the member's partitions and hands the task map the
// leader put in the user data to the App, for interactive queries.
func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	parts, err := kgo.ParseConsumerSyncAssignment(assignment)
	if err != nil {
		return nil, err
	}
	var ka kmsg.ConsumerMemberAssignment
	if ka.ReadFrom(assignment) == nil && len(ka.UserData) > 0 {
		var ci clusterInfo
		if json.Unmarshal(ka.UserData, &ci) == nil {
			if f := b.info().assigned; f != nil {
				f(&ci)
			}
		}
	}
	return parts, nil
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// candidate is a group member as the balance sees it.
type candidate struct {
	member     *kmsg.JoinGroupResponseMember
	server     string
	instance   string
	generation int32
	owned      map[TaskID]bool
	state      map[TaskID]bool
	standby    map[TaskID]bool // tasks whose standby this member's instance keeps
	load       int
}

// Balance assigns the tasks of the current partition counts. Each member gets
// floor(T/M) or one more tasks. A task stays with the member that had it (the newest
// generation wins a conflicting claim) while that member has room, then goes to a
// member with room whose instance keeps it as a standby, caught up, then to a member
// holding its state on disk, then to the least loaded member. Balance wins over a
// standby whose members are full (Kafka Streams would move the task later, after
// warming it up; eddy does not yet). Then each stateful task gets up to
// Config.StandbyReplicas standbys on other instances; see assignStandbys.
func (b *taskBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var cands []*candidate
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		c := &candidate{member: m, generation: meta.Generation, owned: map[TaskID]bool{}, state: map[TaskID]bool{}, standby: map[TaskID]bool{}}
		for _, op := range meta.OwnedPartitions {
			if sub, ok := b.plan.readers[op.Topic]; ok {
				for _, p := range op.Partitions {
					c.owned[TaskID{Subtopology: sub, Partition: p}] = true
				}
			}
		}
		var info memberInfo
		if json.Unmarshal(meta.UserData, &info) == nil {
			c.server, c.instance = info.Server, info.Instance
			for _, id := range info.State {
				c.state[id] = true
			}
			for _, id := range info.Standby {
				c.standby[id] = true
			}
		}
		if c.instance == "" {
			c.instance = m.MemberID // a member that names no instance is one
		}
		cands = append(cands, c)
	})
	tasks := b.tasks(topics)
	assigned := assignTasks(tasks, cands)
	plan := cb.NewPlan()
	for _, id := range tasks {
		c := assigned[id]
		for _, t := range b.plan.subtopology(id.Subtopology).SourceTopics {
			if id.Partition < topics[t] {
				plan.AddPartition(c.member, t, id.Partition)
			}
		}
	}
	standbys := assignStandbys(tasks, b.stateful, cands, assigned, b.standbys)
	servers := map[string]string{}
	for _, c := range cands {
		servers[c.instance] = c.server
	}
	return &planWithInfo{plan: plan, info: newClusterInfo(tasks, assigned, standbys, servers)}
}

// planWithInfo is a balance plan whose every member assignment carries the whole
// group's task map in its user data, so each instance knows which instance owns
// every task (Kafka Streams' AssignmentInfo does the same).
type planWithInfo struct {
	plan *kgo.BalancePlan
	info *clusterInfo
}

func (p *planWithInfo) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := p.plan.IntoSyncAssignment()
	// Encoding maps of strings and integers cannot fail.
	info, _ := json.Marshal(p.info)
	for i := range out {
		var ka kmsg.ConsumerMemberAssignment
		if ka.ReadFrom(out[i].MemberAssignment) != nil {
			continue
		}
		ka.UserData = info
		out[i].MemberAssignment = ka.AppendTo(nil)
	}
	return out
}

// tasks lists the tasks of every sub-topology, sized by the partition counts the
// leader sees, in ID order.
func (b *taskBalancer) tasks(topics map[string]int32) []TaskID {
	var out []TaskID
	for _, st := range b.plan.subs {
		n := b.plan.tasks[st.ID]
		for _, t := range st.SourceTopics {
			n = max(n, topics[t])
		}
		for p := range n {
			out = append(out, TaskID{Subtopology: st.ID, Partition: p})
		}
	}
	return out
}

// quota spreads n items over m holders: each may hold floor(n/m), and n%m of them
// one more.
type quota struct {
	base, extra int
	held        map[*candidate]int
}

func newQuota(n, m int) *quota {
	return &quota{base: n / m, extra: n % m, held: map[*candidate]int{}}
}

func (q *quota) room(c *candidate) bool {
	h := q.held[c]
	return h < q.base || (h == q.base && q.extra > 0)
}

func (q *quota) take(c *candidate) {
	if q.held[c] == q.base {
		q.extra--
	}
	q.held[c]++
}

// assignTasks gives every task to one candidate; see Balance for the rules. Members
// get balanced task counts overall and, where that allows, within each sub-topology,
// so every member shares every stage of the pipeline.
func assignTasks(tasks []TaskID, cands []*candidate) map[TaskID]*candidate {
	out := make(map[TaskID]*candidate, len(tasks))
	if len(cands) == 0 {
		return out
	}
	total := newQuota(len(tasks), len(cands))
	perSub := map[int]int{}
	for _, id := range tasks {
		perSub[id.Subtopology]++
	}
	subs := map[int]*quota{}
	for sub, n := range perSub {
		subs[sub] = newQuota(n, len(cands))
	}
	room := func(id TaskID, c *candidate) bool { return total.room(c) && subs[id.Subtopology].room(c) }
	give := func(id TaskID, c *candidate) {
		total.take(c)
		subs[id.Subtopology].take(c)
		c.load++
		out[id] = c
	}
	for _, id := range tasks {
		var best *candidate
		for _, c := range cands {
			if c.owned[id] && room(id, c) && (best == nil || c.generation > best.generation) {
				best = c
			}
		}
		if best != nil {
			give(id, best)
		}
	}
	pick := func(id TaskID, want func(*candidate) bool) {
		if out[id] != nil {
			return
		}
		var best *candidate
		for _, c := range cands {
			if want(c) && (best == nil || c.load < best.load) {
				best = c
			}
		}
		if best != nil {
			give(id, best)
		}
	}
	for _, id := range tasks {
		pick(id, func(c *candidate) bool { return c.standby[id] && room(id, c) })
	}
	for _, id := range tasks {
		pick(id, func(c *candidate) bool { return c.state[id] && room(id, c) })
	}
	for _, id := range tasks {
		pick(id, func(c *candidate) bool { return room(id, c) })
	}
	// What the per-sub-topology quotas could not place goes by total load alone.
	for _, id := range tasks {
		pick(id, func(c *candidate) bool { return total.room(c) })
	}
	return out
}

// stateful reports whether task id has logged stores, the ones a standby can copy.
func (b *taskBalancer) stateful(id TaskID) bool {
	st := b.plan.subtopology(id.Subtopology)
	return st != nil && len(st.ChangelogTopics) > 0
}

// standbyHost is an instance as the standby assignment sees it: its threads merged.
type standbyHost struct {
	id             string
	state, standby map[TaskID]bool
	load           int
}

// assignStandbys gives each stateful task up to n standbys, on instances other than
// the one running it (threads of one instance share its disk, so a copy there would
// guard against nothing) and each on a different instance. An instance already
// keeping the task's standby comes first, then one with its state on disk, then the
// one with the fewest standbys. The result maps tasks to instance IDs.
func assignStandbys(tasks []TaskID, stateful func(TaskID) bool, cands []*candidate, active map[TaskID]*candidate, n int) map[TaskID][]string {
	out := map[TaskID][]string{}
	if n <= 0 {
		return out
	}
	var hosts []*standbyHost
	byID := map[string]*standbyHost{}
	for _, c := range cands {
		h := byID[c.instance]
		if h == nil {
			h = &standbyHost{id: c.instance, state: map[TaskID]bool{}, standby: map[TaskID]bool{}}
			byID[c.instance] = h
			hosts = append(hosts, h)
		}
		maps.Copy(h.state, c.state)
		maps.Copy(h.standby, c.standby)
	}
	rank := func(h *standbyHost, id TaskID) int {
		switch {
		case h.standby[id]:
			return 2
		case h.state[id]:
			return 1
		}
		return 0
	}
	for _, id := range tasks {
		owner := active[id]
		if owner == nil || !stateful(id) {
			continue
		}
		for range n {
			var best *standbyHost
			for _, h := range hosts {
				if h.id == owner.instance || slices.Contains(out[id], h.id) {
					continue
				}
				if best == nil || rank(h, id) > rank(best, id) || (rank(h, id) == rank(best, id) && h.load < best.load) {
					best = h
				}
			}
			if best == nil {
				break
			}
			best.load++
			out[id] = append(out[id], best.id)
		}
	}
	return out
}

// compareTaskIDs orders task IDs by sub-topology, then partition.
func compareTaskIDs(a, b TaskID) int {
	return cmp.Or(cmp.Compare(a.Subtopology, b.Subtopology), cmp.Compare(a.Partition, b.Partition))
}
