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
// interactive queries and which tasks it has local state for, so the leader can send
// a task back where restoring it is cheap.
type memberInfo struct {
	Server string   `json:"server,omitempty"`
	State  []TaskID `json:"state,omitempty"`
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
	plan *appPlan
	info func() memberInfo
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
	generation int32
	owned      map[TaskID]bool
	state      map[TaskID]bool
	load       int
}

// Balance assigns the tasks of the current partition counts. Each member gets
// floor(T/M) or one more tasks. A task stays with the member that had it (the newest
// generation wins a conflicting claim) while that member has room, then goes to a
// member holding its state on disk, then to the least loaded member.
func (b *taskBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var cands []*candidate
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		c := &candidate{member: m, generation: meta.Generation, owned: map[TaskID]bool{}, state: map[TaskID]bool{}}
		for _, op := range meta.OwnedPartitions {
			if sub, ok := b.plan.readers[op.Topic]; ok {
				for _, p := range op.Partitions {
					c.owned[TaskID{Subtopology: sub, Partition: p}] = true
				}
			}
		}
		var info memberInfo
		if json.Unmarshal(meta.UserData, &info) == nil {
			c.server = info.Server
			for _, id := range info.State {
				c.state[id] = true
			}
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
	return &planWithInfo{plan: plan, info: newClusterInfo(tasks, assigned)}
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

// compareTaskIDs orders task IDs by sub-topology, then partition.
func compareTaskIDs(a, b TaskID) int {
	return cmp.Or(cmp.Compare(a.Subtopology, b.Subtopology), cmp.Compare(a.Partition, b.Partition))
}
