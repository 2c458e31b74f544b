package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleCreatePartitions grows topics to the requested partition counts. A topic never
// shrinks: records are keyed to partitions by count.
func handleCreatePartitions(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	topicOf := func(rt kmsg.CreatePartitionsRequestTopic) string { return rt.Topic }
	answerOnce(req.Topics, topicOf, func(rt kmsg.CreatePartitionsRequestTopic, duplicated bool) {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if duplicated {
			st.ErrorCode, st.ErrorMessage = topicNamedTwice(rt.Topic)
		} else {
			b.createPartitions(rt, req.ValidateOnly, &st)
		}
		resp.Topics = append(resp.Topics, st)
	})
	return reply{resp: resp}, nil
}

// createPartitions grows one topic (or checks that it could, with validateOnly) and
// fills its answer.
func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool, st *kmsg.CreatePartitionsResponseTopic) {
	t := b.topics.get(rt.Topic)
	if t == nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create partitions", rt.Topic, fmt.Errorf("%w: %s", errUnknownTopic, rt.Topic))
		return
	}
	// A count that does not grow the topic is refused by the registry, assignment or not.
	if current := len(t.parts()); rt.Assignment != nil && int(rt.Count) > current {
		if err := b.checkNewAssignment(rt, current); err != nil {
			st.ErrorCode, st.ErrorMessage = kerr.InvalidReplicaAssignment.Code, kmsg.StringPtr(err.Error())
			return
		}
	}
	if err := b.topics.addPartitions(rt.Topic, rt.Count, validateOnly); err != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("create partitions", rt.Topic, err)
	}
}

// checkNewAssignment accepts a manual assignment with one entry per new partition, each
// naming this node alone.
func (b *Broker) checkNewAssignment(rt kmsg.CreatePartitionsRequestTopic, current int) error {
	if grow := int(rt.Count) - current; len(rt.Assignment) != grow {
		return fmt.Errorf("adding %d partitions needs %d assignments, got %d", grow, grow, len(rt.Assignment))
	}
	for i, a := range rt.Assignment {
		if err := b.checkReplicas(a.Replicas); err != nil {
			return fmt.Errorf("new partition %d: %w", current+i, err)
		}
	}
	return nil
}
