package txn

import (
	"maps"
	"slices"
	"time"
)

// state is where a transactional ID is in its transaction's life, as Kafka names them.
type state byte

const (
	stateEmpty          state = 1 // no transaction since InitProducerID
	stateOngoing        state = 2 // partitions or groups added, not yet ended
	statePrepareCommit  state = 3 // commit decided; markers being written
	statePrepareAbort   state = 4 // abort decided; markers being written
	stateCompleteCommit state = 5 // markers written for the last commit
	stateCompleteAbort  state = 6 // markers written for the last abort
	stateDead           state = 7 // expired; only in memory while being removed
)

var stateNames = map[state]string{
	stateEmpty:          "Empty",
	stateOngoing:        "Ongoing",
	statePrepareCommit:  "PrepareCommit",
	statePrepareAbort:   "PrepareAbort",
	stateCompleteCommit: "CompleteCommit",
	stateCompleteAbort:  "CompleteAbort",
	stateDead:           "Dead",
}

func (s state) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "Unknown"
}

// stateByName maps a ListTransactions state filter to a state.
func stateByName(name string) (state, bool) {
	for s, n := range stateNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// prepared reports whether a decision is logged but its markers may not all be written.
func (s state) prepared() bool { return s == statePrepareCommit || s == statePrepareAbort }

// idle reports whether no transaction is in progress.
func (s state) idle() bool {
	return s == stateEmpty || s == stateCompleteCommit || s == stateCompleteAbort
}

// meta is everything durable about one transactional ID. Every change is made on a copy
// that is logged before it replaces the current one.
type meta struct {
	producerID int64
	epoch      int16
	// lastProducerID and lastEpoch are the pair the producer held before the latest bump
	// that it may still claim (KIP-360 retries, KIP-588 recovery after a coordinator
	// abort); -1 when a new producer took over and the old one must stay fenced.
	lastProducerID int64
	lastEpoch      int16
	timeout        time.Duration
	state          state
	start          time.Time // the transaction's start; zero when none was begun
	updated        time.Time
	partitions     map[string]map[int32]struct{}
	groups         map[string]struct{}
}

// clone returns a deep copy, to be changed and logged.
func (m *meta) clone() meta {
	c := *m
	c.partitions = make(map[string]map[int32]struct{}, len(m.partitions))
	for t, ps := range m.partitions {
		c.partitions[t] = maps.Clone(ps)
	}
	c.groups = maps.Clone(m.groups)
	if c.groups == nil {
		c.groups = map[string]struct{}{}
	}
	return c
}

func (m *meta) hasPartition(tp TopicPartition) bool {
	_, ok := m.partitions[tp.Topic][tp.Partition]
	return ok
}

func (m *meta) addPartition(tp TopicPartition) {
	if m.partitions == nil {
		m.partitions = map[string]map[int32]struct{}{}
	}
	ps := m.partitions[tp.Topic]
	if ps == nil {
		ps = map[int32]struct{}{}
		m.partitions[tp.Topic] = ps
	}
	ps[tp.Partition] = struct{}{}
}

// partitionList returns the transaction's partitions in topic and partition order.
func (m *meta) partitionList() []TopicPartition {
	var out []TopicPartition
	for _, t := range slices.Sorted(maps.Keys(m.partitions)) {
		for _, p := range slices.Sorted(maps.Keys(m.partitions[t])) {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// beginIfIdle starts a transaction at now unless one is in progress.
func (m *meta) beginIfIdle(now time.Time) {
	if m.state == stateOngoing {
		return
	}
	m.state = stateOngoing
	m.start = now
	m.partitions = map[string]map[int32]struct{}{}
	m.groups = map[string]struct{}{}
}

// completed is the state once the markers of a prepared transaction are written.
func (m *meta) completed(now time.Time) meta {
	c := m.clone()
	c.state = stateCompleteAbort
	if m.state == statePrepareCommit {
		c.state = stateCompleteCommit
	}
	c.partitions = nil
	c.groups = nil
	c.updated = now
	return c
}

// groupList returns the transaction's groups in order.
func (m *meta) groupList() []string {
	return slices.Sorted(maps.Keys(m.groups))
}
