package group

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newCoord(t *testing.T, opts Options) *Coordinator {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func protos(names ...string) []kmsg.JoinGroupRequestProtocol {
	ps := make([]kmsg.JoinGroupRequestProtocol, len(names))
	for i, n := range names {
		ps[i] = kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte("md-" + n)}
	}
	return ps
}

// tm is a test member's join settings.
type tm struct {
	version  int16
	group    string
	member   string
	instance string
	// protocolType defaults to "consumer".
	protocolType string
	session      time.Duration
	rebalance    time.Duration
	protocols    []kmsg.JoinGroupRequestProtocol
}

func (m tm) req() *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = m.version
	r.Group = m.group
	r.MemberID = m.member
	if m.instance != "" {
		r.InstanceID = kmsg.StringPtr(m.instance)
	}
	r.SessionTimeoutMillis = int32(m.session.Milliseconds())
	r.RebalanceTimeoutMillis = int32(m.rebalance.Milliseconds())
	r.ProtocolType = m.protocolType
	if r.ProtocolType == "" {
		r.ProtocolType = "consumer"
	}
	r.Protocols = m.protocols
	if r.Protocols == nil {
		r.Protocols = protos("range")
	}
	return r
}

// defaults fills unset fields; version 0 means the newest, a negative one v0.
func defaults(m tm) tm {
	switch {
	case m.version == 0:
		m.version = 9
	case m.version < 0:
		m.version = 0
	}
	if m.group == "" {
		m.group = "g"
	}
	if m.session == 0 {
		m.session = 10 * time.Second
	}
	if m.rebalance == 0 {
		m.rebalance = 5 * time.Second
	}
	return m
}

// joinAsync sends one JoinGroup and delivers its answer.
func joinAsync(c *Coordinator, m tm) <-chan *kmsg.JoinGroupResponse {
	m = defaults(m)
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp, err := c.JoinGroup(context.Background(), m.req(), Client{ID: "client"})
		if err != nil {
			panic(err)
		}
		ch <- resp
	}()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a response")
		panic("unreachable")
	}
}

// notYet fails if ch delivers within d.
func notYet[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("answered too early: %+v", v)
	case <-time.After(d):
	}
}

// joinFull does the whole join, including KIP-394's second step, and delivers the
// final answer.
func joinFull(c *Coordinator, m tm) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp := <-joinAsync(c, m)
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			m.member = resp.MemberID
			resp = <-joinAsync(c, m)
		}
		ch <- resp
	}()
	return ch
}

func join(t *testing.T, c *Coordinator, m tm) *kmsg.JoinGroupResponse {
	t.Helper()
	return recv(t, joinFull(c, m))
}

// waitRebalance heartbeats until the group says it is rebalancing.
func waitRebalance(t *testing.T, c *Coordinator, group, member string, gen int32, instance string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code := heartbeat(c, group, member, gen, instance)
		if code == kerr.RebalanceInProgress.Code {
			return
		}
		wantCode(t, "heartbeat before the rebalance", code, nil)
		if time.Now().After(deadline) {
			t.Fatal("heartbeat never said REBALANCE_IN_PROGRESS")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func syncAsync(c *Coordinator, group, member string, gen int32, assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group = group
	req.MemberID = member
	req.Generation = gen
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		resp, err := c.SyncGroup(context.Background(), req)
		if err != nil {
			panic(err)
		}
		ch <- resp
	}()
	return ch
}

func heartbeat(c *Coordinator, group, member string, gen int32, instance string) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group = group
	req.MemberID = member
	req.Generation = gen
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	return c.Heartbeat(req).ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func commit(t *testing.T, c *Coordinator, group, member string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitResponse {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group = group
	req.MemberID = member
	req.Generation = gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = p
		rp.Offset = o
		rp.LeaderEpoch = 3
		rp.Metadata = kmsg.StringPtr("meta")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := c.OffsetCommit(context.Background(), req)
	if err != nil {
		t.Fatalf("OffsetCommit: %v", err)
	}
	return resp
}

// commitCode is the single error code of a commit of one topic's partitions.
func commitCode(t *testing.T, resp *kmsg.OffsetCommitResponse) int16 {
	t.Helper()
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != code {
			t.Fatalf("partitions disagree: %+v", resp.Topics[0].Partitions)
		}
	}
	return code
}

// fetched returns the committed offsets of group as topic -> partition -> offset.
func fetched(c *Coordinator, group string) map[string]map[int32]int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	out := map[string]map[int32]int64{}
	for _, t := range c.OffsetFetch(req).Groups[0].Topics {
		out[t.Topic] = map[int32]int64{}
		for _, p := range t.Partitions {
			out[t.Topic][p.Partition] = p.Offset
		}
	}
	return out
}
