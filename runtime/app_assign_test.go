package runtime

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func taskList(subs, partitions int) []TaskID {
	var out []TaskID
	for s := range subs {
		for p := range partitions {
			out = append(out, TaskID{Subtopology: s, Partition: int32(p)})
		}
	}
	return out
}

func newCands(n int) []*candidate {
	out := make([]*candidate, n)
	for i := range out {
		out[i] = &candidate{member: &kmsg.JoinGroupResponseMember{MemberID: "m" + strconv.Itoa(i)}, instance: "m" + strconv.Itoa(i), owned: map[TaskID]bool{}, state: map[TaskID]bool{}, standby: map[TaskID]bool{}}
	}
	return out
}

// counts returns how many tasks, and tasks of each sub-topology, each candidate got.
func counts(assigned map[TaskID]*candidate) (map[string]int, map[string]map[int]int) {
	total, bySub := map[string]int{}, map[string]map[int]int{}
	for id, c := range assigned {
		total[c.member.MemberID]++
		if bySub[c.member.MemberID] == nil {
			bySub[c.member.MemberID] = map[int]int{}
		}
		bySub[c.member.MemberID][id.Subtopology]++
	}
	return total, bySub
}

func TestAssignTasksBalancesEachSubtopology(t *testing.T) {
	for _, tc := range []struct{ subs, parts, members int }{
		{2, 4, 2}, {2, 4, 3}, {1, 5, 2}, {3, 1, 2}, {1, 2, 5},
	} {
		tasks := taskList(tc.subs, tc.parts)
		cands := newCands(tc.members)
		// The first member had everything: stickiness must not keep it all.
		for _, id := range tasks {
			cands[0].owned[id] = true
		}
		assigned := assignTasks(tasks, cands)
		if len(assigned) != len(tasks) {
			t.Fatalf("%+v: %d of %d tasks assigned", tc, len(assigned), len(tasks))
		}
		total, bySub := counts(assigned)
		lo, hi := len(tasks), 0
		for _, c := range cands {
			lo, hi = min(lo, total[c.member.MemberID]), max(hi, total[c.member.MemberID])
		}
		if hi-lo > 1 {
			t.Errorf("%+v: task counts %v differ by more than one", tc, total)
		}
		if tc.parts >= tc.members {
			for m, subs := range bySub {
				if len(subs) != tc.subs {
					t.Errorf("%+v: member %s runs sub-topologies %v, want all %d", tc, m, subs, tc.subs)
				}
			}
		}
	}
}

func TestAssignTasksSticky(t *testing.T) {
	tasks := taskList(2, 4)
	cands := newCands(2)
	first := assignTasks(tasks, cands)
	// Same members again, each owning what it got: nothing moves.
	again := newCands(2)
	for id, c := range first {
		for i := range cands {
			if cands[i] == c {
				again[i].owned[id] = true
			}
		}
	}
	second := assignTasks(tasks, again)
	for id, c := range second {
		if c.member.MemberID != first[id].member.MemberID {
			t.Errorf("task %s moved from %s to %s", id, first[id].member.MemberID, c.member.MemberID)
		}
	}
	// A third member takes a share, and the tasks it takes come from the others: the
	// rest stay put.
	three := newCands(3)
	for i := range 2 {
		three[i].owned = again[i].owned
	}
	third := assignTasks(tasks, three)
	moved := 0
	for id, c := range third {
		if c.member.MemberID != first[id].member.MemberID {
			moved++
		}
	}
	if moved > 3 {
		t.Errorf("%d tasks moved for a new member, want at most 3 of 8", moved)
	}
}

func TestAssignTasksPrefersLocalState(t *testing.T) {
	tasks := taskList(1, 4)
	cands := newCands(2)
	cands[1].state[TaskID{Partition: 0}] = true
	cands[1].state[TaskID{Partition: 2}] = true
	assigned := assignTasks(tasks, cands)
	for _, p := range []int32{0, 2} {
		if got := assigned[TaskID{Partition: p}].member.MemberID; got != "m1" {
			t.Errorf("task 0_%d went to %s, want m1 which has its state", p, got)
		}
	}
}

func TestAssignTasksPrefersStandby(t *testing.T) {
	tasks := taskList(1, 4)
	cands := newCands(3)
	// m0 and m1 keep their tasks; the failed member's 0_2 has a standby on m1 and
	// stale state on m2. The caught-up standby wins.
	cands[0].owned[TaskID{Partition: 0}] = true
	cands[1].owned[TaskID{Partition: 1}] = true
	cands[1].standby[TaskID{Partition: 2}] = true
	cands[2].state[TaskID{Partition: 2}] = true
	assigned := assignTasks(tasks, cands)
	if got := assigned[TaskID{Partition: 2}].member.MemberID; got != "m1" {
		t.Errorf("task 0_2 went to %s, want m1 which keeps its standby", got)
	}
}

func TestAssignStandbys(t *testing.T) {
	// Sub-topology 0 is stateless, 1 stateful. Members m0 and m1 are threads of
	// instance a; m2 is instance b, m3 instance c.
	tasks := taskList(2, 3)
	stateful := func(id TaskID) bool { return id.Subtopology == 1 }
	cands := newCands(4)
	for i, inst := range []string{"a", "a", "b", "c"} {
		cands[i].instance = inst
	}
	cands[3].standby[TaskID{Subtopology: 1, Partition: 1}] = true
	cands[2].state[TaskID{Subtopology: 1, Partition: 1}] = true
	active := assignTasks(tasks, cands)
	for _, tc := range []struct{ n, want int }{{1, 1}, {2, 2}, {5, 2}} {
		got := assignStandbys(tasks, stateful, cands, active, tc.n)
		for _, id := range tasks {
			sb := got[id]
			if !stateful(id) {
				if len(sb) > 0 {
					t.Errorf("n=%d: stateless task %s has standbys %v", tc.n, id, sb)
				}
				continue
			}
			if len(sb) != tc.want {
				t.Errorf("n=%d: task %s has standbys %v, want %d", tc.n, id, sb, tc.want)
			}
			seen := map[string]bool{active[id].instance: true}
			for _, inst := range sb {
				if seen[inst] {
					t.Errorf("n=%d: task %s (active on %s) has standbys %v: an instance twice", tc.n, id, active[id].instance, sb)
				}
				seen[inst] = true
			}
		}
		// The task's standby stays where it is, unless that instance runs it.
		id := TaskID{Subtopology: 1, Partition: 1}
		if tc.n == 1 && active[id].instance != "c" && got[id][0] != "c" {
			t.Errorf("task %s: standby on %v, want c which already keeps it", id, got[id])
		}
	}
}
