package group

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// The in-memory side of the store: committed offsets, the transactions' pending ones,
// how log records change them and how they are written back as records. Every method
// here runs with the journal locked, except those that take it themselves.

// partitionOffsets is offsets by topic and partition.
type partitionOffsets map[string]map[int32]committed

func (po partitionOffsets) set(topic string, partition int32, c committed) {
	parts := po[topic]
	if parts == nil {
		parts = map[int32]committed{}
		po[topic] = parts
	}
	parts[partition] = c
}

func (po partitionOffsets) remove(topic string, partition int32) {
	delete(po[topic], partition)
	if len(po[topic]) == 0 {
		delete(po, topic)
	}
}

func (po partitionOffsets) has(topic string, partition int32) bool {
	_, ok := po[topic][partition]
	return ok
}

// activity is what offset retention needs to know of a group: the time of its latest
// commit or membership change, and whether it has members, whose offsets never expire.
type activity struct {
	last    int64 // Unix milliseconds; 0 while unknown (records older than opTimed)
	members bool
}

// apply changes the in-memory table; the journal is locked (or the store is not shared
// yet).
func (s *store) apply(o *op) {
	s.order++
	switch o.kind {
	case opCommit, opTxnCommit, opTxnEnd, opMembers:
		a := s.activity[o.group]
		a.last = max(a.last, o.at)
		if o.kind == opMembers {
			a.members = o.members
		}
		s.activity[o.group] = a
	}
	switch o.kind {
	case opMembers:
		s.dropEmpty(o.group)
	case opCommit:
		topics := s.offsets[o.group]
		if topics == nil {
			topics = partitionOffsets{}
			s.offsets[o.group] = topics
		}
		for _, e := range o.entries {
			e.order = s.order
			topics.set(e.topic, e.partition, e.committed)
		}
	case opTxnCommit:
		producers := s.pending[o.group]
		if producers == nil {
			producers = map[int64]partitionOffsets{}
			s.pending[o.group] = producers
		}
		topics := producers[o.producerID]
		if topics == nil {
			topics = partitionOffsets{}
			producers[o.producerID] = topics
		}
		for _, e := range o.entries {
			e.order = s.order
			topics.set(e.topic, e.partition, e.committed)
		}
	case opTxnEnd:
		s.endTxn(o.group, o.producerID, o.commit)
	case opDelete:
		for _, e := range o.entries {
			s.offsets[o.group].remove(e.topic, e.partition)
			for _, topics := range s.pending[o.group] {
				topics.remove(e.topic, e.partition)
			}
		}
		s.dropEmpty(o.group)
	case opDeleteGroup:
		delete(s.offsets, o.group)
		delete(s.pending, o.group)
		delete(s.activity, o.group)
	case opDeleteTopic:
		for g, topics := range s.offsets {
			delete(topics, o.topic)
			s.dropEmpty(g)
		}
		for g, producers := range s.pending {
			for _, pending := range producers {
				delete(pending, o.topic)
			}
			s.dropEmpty(g)
		}
	}
}

// endTxn moves a producer's pending offsets of group into the committed ones, or drops
// them. A committed offset written after the transaction's (by OffsetCommit or another
// transaction that ended first) is newer and stays.
func (s *store) endTxn(group string, producerID int64, commit bool) {
	pending := s.pending[group][producerID]
	delete(s.pending[group], producerID)
	if commit && len(pending) > 0 {
		topics := s.offsets[group]
		if topics == nil {
			topics = partitionOffsets{}
			s.offsets[group] = topics
		}
		for topic, parts := range pending {
			for p, c := range parts {
				if cur, ok := topics[topic][p]; !ok || cur.order < c.order {
					topics.set(topic, p, c)
				}
			}
		}
	}
	s.dropEmpty(group)
}

// dropEmpty forgets what is left empty of group.
func (s *store) dropEmpty(group string) {
	if len(s.offsets[group]) == 0 {
		delete(s.offsets, group)
	}
	for pid, topics := range s.pending[group] {
		if len(topics) == 0 {
			delete(s.pending[group], pid)
		}
	}
	if len(s.pending[group]) == 0 {
		delete(s.pending, group)
	}
	if !s.activity[group].members && !s.holds(group) {
		delete(s.activity, group)
	}
}

// holds reports whether group has committed or pending offsets; the journal is locked.
func (s *store) holds(group string) bool {
	return len(s.offsets[group]) > 0 || len(s.pending[group]) > 0
}

// snapshot returns records that rebuild the table: a commit per group and, for the
// partitions with pending transactional offsets, their committed and pending offsets in
// the order they were written, which decides what a transaction's commit replaces; then
// an opMembers record per group, timed as its latest activity. The journal is locked.
func (s *store) snapshot() []op {
	type item struct {
		kind       byte
		group      string
		producerID int64
		offsetEntry
	}
	var ops []op
	var ordered []item
	for _, g := range slices.Sorted(maps.Keys(s.offsets)) {
		o := op{kind: opCommit, group: g}
		for topic, parts := range s.offsets[g] {
			for p, c := range parts {
				e := offsetEntry{topic: topic, partition: p, committed: c}
				if s.hasPending(g, topic, p) {
					ordered = append(ordered, item{kind: opCommit, group: g, offsetEntry: e})
				} else {
					o.entries = append(o.entries, e)
				}
			}
		}
		if len(o.entries) > 0 {
			ops = append(ops, o)
		}
	}
	for g, producers := range s.pending {
		for pid, topics := range producers {
			for topic, parts := range topics {
				for p, c := range parts {
					e := offsetEntry{topic: topic, partition: p, committed: c}
					ordered = append(ordered, item{kind: opTxnCommit, group: g, producerID: pid, offsetEntry: e})
				}
			}
		}
	}
	// Offsets written by one record share its order, and with it kind, group and producer.
	slices.SortFunc(ordered, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.order, b.order), strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	for _, it := range ordered {
		if n := len(ops); n > 0 {
			if last := &ops[n-1]; last.kind == it.kind && last.group == it.group && last.producerID == it.producerID {
				last.entries = append(last.entries, it.offsetEntry)
				continue
			}
		}
		ops = append(ops, op{kind: it.kind, group: it.group, producerID: it.producerID, entries: []offsetEntry{it.offsetEntry}})
	}
	// Last: replayed before the group's offsets, the record of a group without members
	// would be dropped as the group's only trace.
	for _, g := range slices.Sorted(maps.Keys(s.activity)) {
		a := s.activity[g]
		ops = append(ops, op{kind: opMembers, group: g, members: a.members, at: a.last})
	}
	return ops
}

// topicPartitions names partitions of one topic.
type topicPartitions struct {
	topic      string
	partitions []int32
}

// fetchedPartition is one partition's committed offset; ok is false when none is.
// unstable is set instead when a stable offset was asked for and a transaction's offset
// of the partition is pending.
type fetchedPartition struct {
	partition int32
	ok        bool
	unstable  bool
	committed
}

// fetchedTopic is what lookup found for one topic.
type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

// lookup returns group's committed offsets of the requested partitions, or of every
// partition it has committed offsets for (in topic and partition order) when req is nil.
// With requireStable, partitions with pending transactional offsets are unstable.
func (s *store) lookup(group string, req []topicPartitions, requireStable bool) []fetchedTopic {
	s.j.Lock()
	defer s.j.Unlock()
	topics := s.offsets[group]
	if req == nil {
		for _, t := range slices.Sorted(maps.Keys(topics)) {
			req = append(req, topicPartitions{topic: t, partitions: slices.Sorted(maps.Keys(topics[t]))})
		}
	}
	out := make([]fetchedTopic, 0, len(req))
	for _, t := range req {
		ft := fetchedTopic{topic: t.topic, partitions: make([]fetchedPartition, 0, len(t.partitions))}
		for _, p := range t.partitions {
			if requireStable && s.hasPending(group, t.topic, p) {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, unstable: true})
				continue
			}
			c, ok := topics[t.topic][p]
			ft.partitions = append(ft.partitions, fetchedPartition{partition: p, ok: ok, committed: c})
		}
		out = append(out, ft)
	}
	return out
}

// hasPending reports whether any producer has a pending offset of the partition in
// group; the journal is locked.
func (s *store) hasPending(group, topic string, partition int32) bool {
	for _, topics := range s.pending[group] {
		if topics.has(topic, partition) {
			return true
		}
	}
	return false
}

// hasPendingTxn reports whether the producer has pending offsets in group.
func (s *store) hasPendingTxn(group string, producerID int64) bool {
	s.j.Lock()
	defer s.j.Unlock()
	return len(s.pending[group][producerID]) > 0
}

// hasGroup reports whether group has committed or pending offsets.
func (s *store) hasGroup(group string) bool {
	s.j.Lock()
	defer s.j.Unlock()
	return s.holds(group)
}

// idleSince returns when group was last used, in Unix milliseconds, if its offsets may
// expire: it has committed offsets, none pending and no members.
func (s *store) idleSince(group string) (int64, bool) {
	s.j.Lock()
	defer s.j.Unlock()
	a := s.activity[group]
	if len(s.offsets[group]) == 0 || len(s.pending[group]) > 0 || a.members {
		return 0, false
	}
	return a.last, true
}

// groups returns the groups with committed or pending offsets.
func (s *store) groups() []string {
	s.j.Lock()
	defer s.j.Unlock()
	gs := slices.Collect(maps.Keys(s.offsets))
	for g := range s.pending {
		if _, ok := s.offsets[g]; !ok {
			gs = append(gs, g)
		}
	}
	return gs
}

// groupsWithTopic returns the groups that have committed or pending offsets of topic.
func (s *store) groupsWithTopic(topic string) []string {
	s.j.Lock()
	defer s.j.Unlock()
	var gs []string
	for g, topics := range s.offsets {
		if _, ok := topics[topic]; ok {
			gs = append(gs, g)
		}
	}
	for g, producers := range s.pending {
		if _, ok := s.offsets[g][topic]; ok {
			continue
		}
		for _, topics := range producers {
			if _, ok := topics[topic]; ok {
				gs = append(gs, g)
				break
			}
		}
	}
	return gs
}
