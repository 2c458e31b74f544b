package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// appPlan is what the application knows of its tasks once the topics are checked: the
// sub-topologies, their task counts and which sub-topology reads each source topic.
type appPlan struct {
	subs    []Subtopology
	tasks   map[int]int32
	readers map[string]int // source topic to the sub-topology reading it
	sources []string       // every source topic, sorted
}

// subtopology returns sub-topology id.
func (p *appPlan) subtopology(id int) *Subtopology {
	for i := range p.subs {
		if p.subs[i].ID == id {
			return &p.subs[i]
		}
	}
	return nil
}

// internalTopic is a topic the application creates.
type internalTopic struct {
	partitions int32
	configs    map[string]*string
}

// prepareTopics checks the source topics, sizes the tasks and internal topics
// (PlanPartitions), checks co-partitioning and creates the missing internal topics.
func prepareTopics(ctx context.Context, adm *kadm.Client, top *Topology, cfg Config, counts *partitionCounts) (*appPlan, error) {
	subs, err := top.Subtopologies(cfg.ApplicationID)
	if err != nil {
		return nil, err
	}
	reps := top.RepartitionTopics(cfg.ApplicationID)
	internal := map[string]bool{}
	for _, r := range reps {
		internal[r.Topic] = true
	}
	plan := &appPlan{subs: subs, readers: map[string]int{}}
	var external []string
	for _, st := range subs {
		for _, t := range st.SourceTopics {
			plan.readers[t] = st.ID
			plan.sources = append(plan.sources, t)
			if !internal[t] {
				external = append(external, t)
			}
		}
	}
	slices.Sort(plan.sources)
	details, err := adm.ListTopics(ctx, external...)
	if err != nil {
		return nil, fmt.Errorf("runtime: list source topics: %w", err)
	}
	var missing []string
	for _, t := range external {
		d, ok := details[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) || (d.Err == nil && len(d.Partitions) == 0) {
			missing = append(missing, t)
			continue
		}
		if d.Err != nil {
			return nil, fmt.Errorf("runtime: source topic %q: %w", t, d.Err)
		}
		counts.set(t, int32(len(d.Partitions)))
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("%w: %s", ErrMissingSourceTopics, strings.Join(missing, ", "))
	}
	pp := PlanPartitions(subs, reps, func(t string) int32 { n, _ := counts.get(t); return n })
	plan.tasks = pp.Tasks
	if err := checkCopartitioning(subs, func(t string) int32 {
		if n, ok := pp.Repartitions[t]; ok {
			return n
		}
		n, _ := counts.get(t)
		return n
	}); err != nil {
		return nil, err
	}
	wanted := map[string]internalTopic{}
	compact, deleteForever := "compact", "delete"
	forever := "-1"
	for topic, n := range pp.Repartitions {
		wanted[topic] = internalTopic{partitions: n, configs: map[string]*string{"cleanup.policy": &deleteForever, "retention.ms": &forever}}
	}
	for _, st := range subs {
		for _, t := range st.ChangelogTopics {
			wanted[t] = internalTopic{partitions: pp.Tasks[st.ID], configs: map[string]*string{"cleanup.policy": &compact}}
		}
	}
	if err := ensureInternalTopics(ctx, adm, wanted, cfg.ReplicationFactor); err != nil {
		return nil, err
	}
	for t, it := range wanted {
		counts.set(t, it.partitions)
	}
	return plan, nil
}

// checkCopartitioning requires the source topics of each sub-topology to have equal
// partition counts: task p reads partition p of each, so the records of one key must
// sit at the same partition number everywhere.
func checkCopartitioning(subs []Subtopology, count func(string) int32) error {
	var errs []error
	for _, st := range subs {
		if len(st.SourceTopics) < 2 {
			continue
		}
		first := count(st.SourceTopics[0])
		if !slices.ContainsFunc(st.SourceTopics, func(t string) bool { return count(t) != first }) {
			continue
		}
		parts := make([]string, len(st.SourceTopics))
		for i, t := range st.SourceTopics {
			parts[i] = fmt.Sprintf("%s (%d)", t, count(t))
		}
		errs = append(errs, fmt.Errorf("%w: sub-topology %d reads %s", ErrCopartitioning, st.ID, strings.Join(parts, ", ")))
	}
	return errors.Join(errs...)
}

// ensureInternalTopics creates the wanted topics that do not exist and checks the
// partition count of those that do. Another instance creating the same topic at the
// same time is fine.
func ensureInternalTopics(ctx context.Context, adm *kadm.Client, wanted map[string]internalTopic, rf int16) error {
	if len(wanted) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(wanted))
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("runtime: list internal topics: %w", err)
	}
	for _, t := range names {
		if d, ok := details[t]; ok && d.Err == nil && len(d.Partitions) > 0 {
			continue
		}
		w := wanted[t]
		resp, err := adm.CreateTopic(ctx, w.partitions, rf, w.configs, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("runtime: create internal topic %q: %w", t, err)
		}
	}
	// Metadata may lag a creation for a moment (the client caches it, brokers
	// propagate it), so look again until every topic shows up.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if details, err = adm.ListTopics(ctx, names...); err != nil {
			return fmt.Errorf("runtime: list internal topics: %w", err)
		}
		if !slices.ContainsFunc(names, func(t string) bool { return errors.Is(details[t].Err, kerr.UnknownTopicOrPartition) }) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runtime: waiting for internal topics: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
	var errs []error
	for _, t := range names {
		d := details[t]
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("runtime: internal topic %q: %w", t, d.Err))
		} else if got := int32(len(d.Partitions)); got != wanted[t].partitions {
			errs = append(errs, fmt.Errorf("%w: %q has %d partitions, the topology needs %d", ErrInternalTopic, t, got, wanted[t].partitions))
		}
	}
	return errors.Join(errs...)
}

// partitionCounts caches topics' partition counts for the sinks' partitioners, asking
// the broker about topics it has not seen.
type partitionCounts struct {
	adm *kadm.Client
	ctx context.Context

	mu     sync.Mutex
	counts map[string]int32
}

func (c *partitionCounts) set(topic string, n int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[topic] = n
}

func (c *partitionCounts) get(topic string) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.counts[topic]
	return n, ok
}

// count returns topic's partition count, 0 when the broker does not know the topic.
func (c *partitionCounts) count(topic string) int32 {
	if n, ok := c.get(topic); ok {
		return n
	}
	details, err := c.adm.ListTopics(c.ctx, topic)
	if err != nil {
		return 0
	}
	d, ok := details[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0
	}
	c.set(topic, int32(len(d.Partitions)))
	return int32(len(d.Partitions))
}
