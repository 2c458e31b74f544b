package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMetadataBytes bounds the metadata of a committed offset, as Kafka's
// offset.metadata.max.bytes default does.
const maxMetadataBytes = 4096

// OffsetCommit stores committed offsets. Members of a group are checked against its
// generation; generation -1 with an empty member ID commits for a group used only to
// store offsets (simple consumers). When Options.Sync is set it returns once the commit
// is on disk; an error is returned only for ctx.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, error) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	var entries []offsetEntry
	var accepted []*int16 // error codes of the partitions in entries
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			rp.Default()
			rp.Partition = p.Partition
			rp.ErrorCode = c.checkPartition(t.Topic, p.Partition, p.Metadata)
			if rp.ErrorCode == 0 {
				entries = append(entries, newOffsetEntry(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata))
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Pointers into resp only once every topic is appended, so they stay valid.
	for ti, t := range req.Topics {
		for pi := range t.Partitions {
			if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
				accepted = append(accepted, &resp.Topics[ti].Partitions[pi].ErrorCode)
			}
		}
	}
	if len(entries) == 0 {
		return resp, nil
	}
	err := c.commit(ctx, req, entries)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		for _, code := range accepted {
			*code = errorCode(err)
		}
	}
	return resp, nil
}

// checkPartition is the error code of a commit of one partition's offset, 0 if none.
func (c *Coordinator) checkPartition(topic string, partition int32, metadata *string) int16 {
	switch {
	case metadata != nil && len(*metadata) > maxMetadataBytes:
		return kerr.OffsetMetadataTooLarge.Code
	case !c.opts.PartitionExists(topic, partition):
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

func newOffsetEntry(topic string, partition int32, offset int64, epoch int32, metadata *string) offsetEntry {
	e := offsetEntry{topic: topic, partition: partition}
	e.offset, e.epoch = offset, epoch
	if metadata != nil {
		e.metadata = *metadata
	}
	return e
}

func (c *Coordinator) commit(ctx context.Context, req *kmsg.OffsetCommitRequest, entries []offsetEntry) error {
	g, err := c.lockGroup(req.Group, req.Generation < 0)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.IllegalGeneration
	}
	if kerrr := g.checkCommit(req); kerrr != nil {
		c.unlock(g)
		return kerrr
	}
	// Written under the group's lock so that a concurrent DeleteGroups or OffsetDelete
	// is ordered before or after it; the fsync is waited for outside it.
	seq, err := c.store.write(&op{kind: opCommit, group: req.Group, entries: entries})
	c.unlock(g)
	if err != nil {
		c.log.Warn("offset commit failed", "group", req.Group, "err", err)
		return err
	}
	return c.store.flush(ctx, seq)
}

// checkCommit decides whether a commit may proceed; g.mu is held.
func (g *group) checkCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if g.fenced(req.MemberID, req.InstanceID) {
		return kerr.FencedInstanceID
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return nil // the group only stores offsets
	}
	m := g.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	switch g.state {
	case stateCompleting:
		// The member has its new generation but not its assignment yet.
		return kerr.RebalanceInProgress
	default:
		// Stable, or preparing a rebalance the member learns of with its next heartbeat;
		// committing before it rejoins is how it keeps what it processed.
		g.touch(m)
		return nil
	}
}

// OffsetFetch returns committed offsets; -1 for partitions without one. A null topic
// list (v2+) asks for every partition the group has offsets for. With RequireStable
// (v7+, KIP-447) a partition with a transaction's offset pending answers
// UNSTABLE_OFFSET_COMMIT, the consumer's cue to retry once the transaction has ended.
// Kafka reports it per partition only, in v8 too: group-level codes are coordinator
// errors.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var want []topicPartitions
			if rg.Topics != nil {
				want = make([]topicPartitions, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					want = append(want, topicPartitions{topic: t.Topic, partitions: t.Partitions})
				}
			}
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			for _, ft := range c.store.lookup(rg.Group, want, req.RequireStable) {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic = ft.topic
				for _, fp := range ft.partitions {
					p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					p.Partition = fp.partition
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = fetchedValues(fp)
					t.Partitions = append(t.Partitions, p)
				}
				g.Topics = append(g.Topics, t)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var want []topicPartitions
	if req.Topics != nil || req.Version < 2 {
		want = make([]topicPartitions, 0, len(req.Topics))
		for _, t := range req.Topics {
			want = append(want, topicPartitions{topic: t.Topic, partitions: t.Partitions})
		}
	}
	for _, ft := range c.store.lookup(req.Group, want, req.RequireStable) {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, fp := range ft.partitions {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition = fp.partition
			p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = fetchedValues(fp)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func fetchedValues(fp fetchedPartition) (offset int64, epoch int32, metadata *string, code int16) {
	switch {
	case fp.unstable:
		return -1, -1, kmsg.StringPtr(""), kerr.UnstableOffsetCommit.Code
	case !fp.ok:
		return -1, -1, kmsg.StringPtr(""), 0
	}
	return fp.offset, fp.epoch, kmsg.StringPtr(fp.metadata), 0
}

// OffsetDelete removes a group's committed offsets of some partitions, and pending
// transactional ones as Kafka does. A group with members may only lose offsets of topics
// none of its members subscribes to; an error is returned only for ctx.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, error) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if !c.opts.PartitionExists(t.Topic, p.Partition) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	g, err := c.lockGroup(req.Group, false)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	}
	subscribed := func(string) bool { return false }
	if g.state != stateEmpty {
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			c.unlock(g)
			return resp, nil
		}
		subscribed = g.subscribed()
	}
	o := op{kind: opDelete, group: req.Group}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			switch {
			case rp.ErrorCode != 0:
			case subscribed(rt.Topic):
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				o.entries = append(o.entries, offsetEntry{topic: rt.Topic, partition: rp.Partition})
			}
		}
	}
	var seq uint64
	if len(o.entries) > 0 {
		seq, err = c.store.write(&o)
	}
	c.unlock(g)
	if err == nil && seq > 0 {
		err = c.store.flush(ctx, seq)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		resp.ErrorCode = errorCode(err)
	}
	return resp, nil
}

// subscribed returns whether any member subscribes to a topic, from the consumer
// protocol metadata of the group's protocol; metadata that does not decode counts as
// subscribing to everything, so nothing in use is deleted. g.mu is held.
func (g *group) subscribed() func(topic string) bool {
	topics := map[string]bool{}
	for _, m := range g.order {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return func(string) bool { return true }
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return func(topic string) bool { return topics[topic] }
}
