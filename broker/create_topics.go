package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleCreateTopics creates topics, each on its own: one topic's failure does not stop
// the others. Version 5+ answers the created topic's partitions, replication factor and
// configs, version 7 its ID.
func handleCreateTopics(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	topicOf := func(rt kmsg.CreateTopicsRequestTopic) string { return rt.Topic }
	answerOnce(req.Topics, topicOf, func(rt kmsg.CreateTopicsRequestTopic, duplicated bool) {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		if duplicated {
			st.ErrorCode, st.ErrorMessage = topicNamedTwice(rt.Topic)
		} else {
			b.createRequestedTopic(rt, req.ValidateOnly, &st)
		}
		resp.Topics = append(resp.Topics, st)
	})
	return reply{resp: resp}, nil
}

// createRequestedTopic creates one topic of a request (or checks it, with validateOnly)
// and fills its answer. The checks run in Kafka's order, so that a client creating a
// topic that exists is told so whatever else it asked.
func (b *Broker) createRequestedTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool, st *kmsg.CreateTopicsResponseTopic) {
	fail := func(code int16, format string, args ...any) {
		st.ErrorCode = code
		st.ErrorMessage = kmsg.StringPtr(fmt.Sprintf(format, args...))
	}
	if err := validTopicName(rt.Topic); err != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create topic", rt.Topic, err)
		return
	}
	if b.topics.get(rt.Topic) != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create topic", rt.Topic, fmt.Errorf("%w: %s", errTopicExists, rt.Topic))
		return
	}
	n := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			fail(kerr.InvalidRequest.Code, "a replica assignment requires NumPartitions and ReplicationFactor to be -1")
			return
		}
		if err := b.checkAssignment(rt.ReplicaAssignment); err != nil {
			fail(kerr.InvalidReplicaAssignment.Code, "%v", err)
			return
		}
		n = int32(len(rt.ReplicaAssignment))
	}
	switch {
	case n == -1:
		n = b.cfg.DefaultPartitions
	case n <= 0:
		fail(kerr.InvalidPartitions.Code, "the number of partitions must be positive or -1 for the default, got %d", n)
		return
	}
	if rf := rt.ReplicationFactor; rf != -1 && rf != 1 {
		fail(kerr.InvalidReplicationFactor.Code, "replication factor %d is impossible: this is a single-node cluster, so it must be 1 (or -1 for the default)", rf)
		return
	}
	configs := make(map[string]*string, len(rt.Configs))
	for _, c := range rt.Configs {
		if _, dup := configs[c.Name]; dup {
			fail(kerr.InvalidRequest.Code, "config %q is given more than once", c.Name)
			return
		}
		configs[c.Name] = c.Value
	}
	overrides, err := validateConfigs(configs)
	if err != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create topic", rt.Topic, err)
		return
	}
	t, err := b.topics.create(rt.Topic, n, overrides, validateOnly)
	if err != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create topic", rt.Topic, err)
		return
	}
	if !validateOnly {
		st.TopicID = t.id
	}
	st.NumPartitions = n
	st.ReplicationFactor = 1
	for _, v := range topicConfigValues(overrides) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source = v.name, kmsg.StringPtr(v.value), int8(v.source)
		st.Configs = append(st.Configs, c)
	}
}

// checkAssignment accepts a manual assignment of partitions 0..n-1, each to this node
// alone.
func (b *Broker) checkAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) error {
	seen := make([]bool, len(as))
	for _, a := range as {
		if a.Partition < 0 || int(a.Partition) >= len(as) || seen[a.Partition] {
			return fmt.Errorf("partitions must be numbered 0 to %d, each once; got partition %d", len(as)-1, a.Partition)
		}
		seen[a.Partition] = true
		if err := b.checkReplicas(a.Replicas); err != nil {
			return fmt.Errorf("partition %d: %w", a.Partition, err)
		}
	}
	return nil
}

// checkReplicas accepts a replica list naming this node alone.
func (b *Broker) checkReplicas(replicas []int32) error {
	if !slices.Equal(replicas, []int32{b.cfg.NodeID}) {
		return fmt.Errorf("replicas %v: the only broker is %d, so each partition must have exactly the replicas [%d]", replicas, b.cfg.NodeID, b.cfg.NodeID)
	}
	return nil
}
