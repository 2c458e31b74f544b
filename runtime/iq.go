package runtime

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/eddy-io/eddy/serde"
)

// Errors of interactive queries.
var (
	// ErrStoreNotAvailable reports a store that cannot be queried here now: the name is
	// unknown, the application is not running or is rebalancing, the task holding the
	// key runs on another instance (ErrKeyNotLocal), or the task moved away during the
	// query. As with Kafka Streams' InvalidStateStoreException, asking again later (or
	// asking the owner, see App.KeyOwner) is the answer.
	ErrStoreNotAvailable = errors.New("runtime: state store not available")
	// ErrKeyNotLocal reports a key whose task is active on another instance; it wraps
	// ErrStoreNotAvailable.
	ErrKeyNotLocal = fmt.Errorf("%w: key hosted by another instance", ErrStoreNotAvailable)
	// ErrWrongStoreType reports a store queried as a type it is not, such as a window
	// store queried as a key-value store or with other key or value types.
	ErrWrongStoreType = errors.New("runtime: state store of another type")
)

// HostInfo is where an instance serves interactive queries: its
// Config.ApplicationServer split into host and port.
type HostInfo struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// String returns "host:port".
func (h HostInfo) String() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// parseHostInfo parses an ApplicationServer value.
func parseHostInfo(server string) (HostInfo, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return HostInfo{}, fmt.Errorf("runtime: application server %q: %w", server, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return HostInfo{}, fmt.Errorf("runtime: application server %q: bad port", server)
	}
	return HostInfo{Host: host, Port: p}, nil
}

// InstanceMetadata describes one instance of the application as the latest
// assignment has it, as Kafka Streams' StreamsMetadata.
type InstanceMetadata struct {
	// Host is the instance's ApplicationServer; zero when it advertises none (or one
	// that is not host:port), and then Server holds what it advertised.
	Host HostInfo
	// Server is the ApplicationServer exactly as the instance advertised it.
	Server string
	// Tasks are the instance's active tasks, in ID order.
	Tasks []TaskID
	// Stores are the stores of those tasks, sorted.
	Stores []string
	// StandbyTasks are the tasks whose state the instance keeps as a standby replica
	// (Config.StandbyReplicas), in ID order; their stores are not queryable.
	StandbyTasks []TaskID
}

// clusterInfo is the group's task map that the leader puts in every member's
// assignment: the task count of each sub-topology and the active and standby tasks
// of each instance (its threads merged).
type clusterInfo struct {
	Tasks map[int]int32 `json:"tasks"`
	Hosts []hostTasks   `json:"hosts"`
}

// hostTasks is one instance's share of clusterInfo: sub-topology to partitions.
type hostTasks struct {
	Server   string          `json:"server"`
	Instance string          `json:"instance,omitempty"`
	Active   map[int][]int32 `json:"active"`
	Standby  map[int][]int32 `json:"standby,omitempty"`
}

// newClusterInfo describes an assignment made by the balancer: active tasks by
// candidate, standbys by instance ID, servers the ApplicationServer of each instance.
func newClusterInfo(tasks []TaskID, assigned map[TaskID]*candidate, standbys map[TaskID][]string, servers map[string]string) *clusterInfo {
	ci := &clusterInfo{Tasks: map[int]int32{}}
	byInstance := map[string]*hostTasks{}
	host := func(instance, server string) *hostTasks {
		h := byInstance[instance]
		if h == nil {
			h = &hostTasks{Server: server, Instance: instance, Active: map[int][]int32{}}
			byInstance[instance] = h
		}
		return h
	}
	for _, id := range tasks {
		ci.Tasks[id.Subtopology] = max(ci.Tasks[id.Subtopology], id.Partition+1)
		if c := assigned[id]; c != nil {
			h := host(c.instance, c.server)
			h.Active[id.Subtopology] = append(h.Active[id.Subtopology], id.Partition)
		}
		for _, inst := range standbys[id] {
			h := host(inst, servers[inst])
			if h.Standby == nil {
				h.Standby = map[int][]int32{}
			}
			h.Standby[id.Subtopology] = append(h.Standby[id.Subtopology], id.Partition)
		}
	}
	for _, inst := range slices.Sorted(maps.Keys(byInstance)) {
		ci.Hosts = append(ci.Hosts, *byInstance[inst])
	}
	slices.SortStableFunc(ci.Hosts, func(a, b hostTasks) int { return strings.Compare(a.Server, b.Server) })
	return ci
}

// standbysOf returns the standby tasks of instance in ID order.
func (ci *clusterInfo) standbysOf(instance string) []TaskID {
	var out []TaskID
	for _, h := range ci.Hosts {
		if h.Instance != instance {
			continue
		}
		for sub, parts := range h.Standby {
			for _, p := range parts {
				out = append(out, TaskID{Subtopology: sub, Partition: p})
			}
		}
	}
	slices.SortFunc(out, compareTaskIDs)
	return out
}

// owner returns the server whose instance runs task id.
func (ci *clusterInfo) owner(id TaskID) (string, bool) {
	for _, h := range ci.Hosts {
		if slices.Contains(h.Active[id.Subtopology], id.Partition) {
			return h.Server, true
		}
	}
	return "", false
}

// queryState is what an App keeps for interactive queries: which sub-topology holds
// each store (fixed by the topology) and the latest task map.
type queryState struct {
	storeSubs map[string]int
	subStores map[int][]string

	mu      sync.Mutex
	cluster *clusterInfo
}

func newQueryState(top *Topology, appID string) *queryState {
	q := &queryState{storeSubs: map[string]int{}, subStores: map[int][]string{}}
	// New has validated the topology, so this cannot fail.
	subs, _ := top.Subtopologies(appID)
	for _, st := range subs {
		for _, s := range st.Stores {
			q.storeSubs[s] = st.ID
			q.subStores[st.ID] = append(q.subStores[st.ID], s)
		}
	}
	return q
}

// setCluster keeps the task map of the latest assignment. Every thread of the
// instance receives the same map in one rebalance.
func (q *queryState) setCluster(ci *clusterInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cluster = ci
}

func (q *queryState) latest() *clusterInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cluster
}

// subtopologyOf returns the sub-topology holding store name.
func (q *queryState) subtopologyOf(name string) (int, error) {
	sub, ok := q.storeSubs[name]
	if !ok {
		return 0, fmt.Errorf("%w: %w: %q", ErrStoreNotAvailable, ErrUnknownStore, name)
	}
	return sub, nil
}

// AllMetadata lists the instances of the application, sorted by ApplicationServer,
// with their active tasks and stores and their standby tasks, from the latest
// assignment this instance received; it is empty before the first one.
func (a *App) AllMetadata() []InstanceMetadata {
	ci := a.queries.latest()
	if ci == nil {
		return nil
	}
	out := make([]InstanceMetadata, 0, len(ci.Hosts))
	for _, h := range ci.Hosts {
		m := InstanceMetadata{Server: h.Server}
		m.Host, _ = parseHostInfo(h.Server)
		stores := map[string]bool{}
		for sub, parts := range h.Active {
			for _, p := range parts {
				m.Tasks = append(m.Tasks, TaskID{Subtopology: sub, Partition: p})
			}
			for _, s := range a.queries.subStores[sub] {
				stores[s] = true
			}
		}
		slices.SortFunc(m.Tasks, compareTaskIDs)
		m.Stores = slices.Sorted(maps.Keys(stores))
		m.StandbyTasks = ci.standbysOf(h.Instance)
		out = append(out, m)
	}
	return out
}

// MetadataForStore lists the instances (see AllMetadata) with an active task holding
// store name.
func (a *App) MetadataForStore(name string) []InstanceMetadata {
	all := a.AllMetadata()
	return slices.DeleteFunc(all, func(m InstanceMetadata) bool { return !slices.Contains(m.Stores, name) })
}

// KeyOwner returns the instance whose active task holds key in store name, per the
// latest assignment: the task's partition is DefaultPartition of the key encoded with
// keys, over the task count of the store's sub-topology, which is where the
// application's producers (and Kafka's default partitioner) put the key. keys must
// be the serde the key was partitioned with, as for Kafka Streams'
// queryMetadataForKey. The error wraps ErrStoreNotAvailable when the store is unknown,
// no assignment has arrived, or the owner advertises no ApplicationServer.
func (a *App) KeyOwner[K any](name string, key K, keys serde.Serde[K]) (HostInfo, error) {
	kb, err := encodeQueryKey(keys, key)
	if err != nil {
		return HostInfo{}, err
	}
	id, ci, err := a.keyTask(name, kb)
	if err != nil {
		return HostInfo{}, err
	}
	server, ok := ci.owner(id)
	if !ok {
		return HostInfo{}, fmt.Errorf("%w: task %s of store %q is not assigned", ErrStoreNotAvailable, id, name)
	}
	if server == "" {
		return HostInfo{}, fmt.Errorf("%w: the owner of task %s advertises no ApplicationServer", ErrStoreNotAvailable, id)
	}
	return parseHostInfo(server)
}

// encodeQueryKey encodes a queried key; Kafka's null key has no partition.
func encodeQueryKey[K any](keys serde.Serde[K], key K) ([]byte, error) {
	if keys == nil {
		return nil, errors.New("runtime: query: nil key serde")
	}
	kb, err := keys.Encode(key)
	if err != nil {
		return nil, fmt.Errorf("runtime: query: encode key: %w", err)
	}
	if kb == nil {
		return nil, fmt.Errorf("runtime: query: %w: null key", serde.ErrEncode)
	}
	return kb, nil
}

// keyTask returns the task of the encoded key kb in store name, with the task map it
// was found in.
func (a *App) keyTask(name string, kb []byte) (TaskID, *clusterInfo, error) {
	sub, err := a.queries.subtopologyOf(name)
	if err != nil {
		return TaskID{}, nil, err
	}
	ci := a.queries.latest()
	if ci == nil || ci.Tasks[sub] <= 0 {
		return TaskID{}, nil, fmt.Errorf("%w: no assignment yet", ErrStoreNotAvailable)
	}
	return TaskID{Subtopology: sub, Partition: DefaultPartition(kb, ci.Tasks[sub])}, ci, nil
}

// runningTasks returns this instance's running tasks of sub-topology sub, or the one
// task only when only is set, in ID order. rebalancing reports whether some thread
// was skipped because it is rebalancing (its tasks may be restoring or moving, and
// its lock may be held for a long restore). The tasks are used outside the threads'
// locks: their stores allow reads from other goroutines, and a store closed in the
// meantime fails the read with state.ErrClosed.
func (a *App) runningTasks(sub int, only *TaskID) (tasks []*Task, rebalancing bool, err error) {
	if s := a.State(); s != StateRunning && s != StateRebalancing {
		return nil, false, fmt.Errorf("%w: the application is %s", ErrStoreNotAvailable, s)
	}
	a.mu.Lock()
	threads := a.threads
	a.mu.Unlock()
	for _, th := range threads {
		// threadRebalancing takes stateMu under th.mu: never hold both here.
		a.stateMu.Lock()
		busy := a.rebalancing[th.name]
		a.stateMu.Unlock()
		if busy {
			rebalancing = true
			continue
		}
		tasks = append(tasks, th.runningTasks(sub, only)...)
	}
	slices.SortFunc(tasks, func(x, y *Task) int { return compareTaskIDs(x.ID(), y.ID()) })
	return tasks, rebalancing, nil
}

// runningTasks returns the thread's running tasks of sub-topology sub (only the task
// only, when set).
func (t *thread) runningTasks(sub int, only *TaskID) []*Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*Task
	for id, at := range t.tasks {
		if id.Subtopology == sub && (only == nil || *only == id) {
			out = append(out, at.task)
		}
	}
	return out
}
