package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleMetadata describes this single-node cluster and the requested topics (all of
// them when the list is null, or empty at v0). A missing topic is created when the broker
// allows auto-creation and the request does too.
func handleMetadata(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	host, port := b.advertised()
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: host, Port: port}}
	resp.ClusterID = &b.meta.clusterID
	resp.ControllerID = b.cfg.NodeID

	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range b.topics.all() {
			resp.Topics = append(resp.Topics, b.describeTopic(t))
		}
		return reply{resp: resp}, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil:
			t = b.topics.get(*rt.Topic)
		case rt.TopicID != [16]byte{}:
			t = b.topics.byID(rt.TopicID)
		}
		if t != nil {
			resp.Topics = append(resp.Topics, b.describeTopic(t))
			continue
		}
		st := kmsg.NewMetadataResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic == nil {
			st.ErrorCode = kerr.UnknownTopicID.Code
		} else if autoCreate {
			ct, err := b.topics.create(*rt.Topic, b.cfg.DefaultPartitions, nil, false)
			switch {
			case err == nil || errors.Is(err, errTopicExists):
				if ct == nil {
					ct = b.topics.get(*rt.Topic)
				}
				if ct != nil {
					resp.Topics = append(resp.Topics, b.describeTopic(ct))
					continue
				}
			case errors.Is(err, errInvalidTopic):
				st.ErrorCode = kerr.InvalidTopicException.Code
			default:
				b.log.Error("auto-create topic", "topic", *rt.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

func (b *Broker) describeTopic(t *topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.name
	st.Topic = &name
	st.TopicID = t.id
	node := []int32{b.cfg.NodeID}
	for _, p := range t.parts() {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = p.index
		sp.Leader = b.cfg.NodeID
		sp.LeaderEpoch = 0
		sp.Replicas = node
		sp.ISR = node
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}
