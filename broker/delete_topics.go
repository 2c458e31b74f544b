package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteTopics deletes topics with their logs and committed offsets. Versions 0-5
// name topics; version 6 names each by name or by topic ID.
func handleDeleteTopics(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if req.Version < 6 {
		for _, name := range req.TopicNames {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic = kmsg.StringPtr(name)
			b.deleteTopic(name, &st)
			resp.Topics = append(resp.Topics, st)
		}
		return reply{resp: resp}, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		hasName := rt.Topic != nil && *rt.Topic != ""
		switch {
		case hasName && rt.TopicID != [16]byte{}:
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("a topic may be named by name or by ID, not both")
		case hasName:
			b.deleteTopic(*rt.Topic, &st)
		default:
			t := b.topics.byID(rt.TopicID)
			if t == nil {
				st.ErrorCode = kerr.UnknownTopicID.Code
				st.ErrorMessage = kmsg.StringPtr("no topic has this ID")
				break
			}
			st.Topic = kmsg.StringPtr(t.name)
			b.deleteTopic(t.name, &st)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// deleteTopic deletes one topic and fills its answer.
func (b *Broker) deleteTopic(name string, st *kmsg.DeleteTopicsResponseTopic) {
	if t := b.topics.get(name); t != nil {
		st.TopicID = t.id
	}
	if err := b.topics.delete(name); err != nil {
		st.ErrorCode, st.ErrorMessage = b.adminError("delete topic", name, err)
	}
}
