package group

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitChecks(t *testing.T) {
	c := newCoord(t, Options{PartitionExists: func(topic string, p int32) bool { return topic == "t" && p < 4 }})
	a := join(t, c, tm{group: "members"})
	recv(t, syncAsync(c, "members", a.MemberID, 1, nil))
	rebalancing := join(t, c, tm{group: "completing"}) // joined, not synced yet

	for _, tc := range []struct {
		name   string
		group  string
		member string
		gen    int32
		want   *kerr.Error
	}{
		{"simple consumer, new group", "simple", "", -1, nil},
		{"simple consumer, existing empty group", "simple", "", -1, nil},
		{"simple consumer into a group with members", "members", "", -1, kerr.UnknownMemberID},
		{"member", "members", a.MemberID, 1, nil},
		{"member, wrong generation", "members", a.MemberID, 7, kerr.IllegalGeneration},
		{"unknown member", "members", "nobody", 1, kerr.UnknownMemberID},
		{"generation into an unknown group", "unknown", "m", 3, kerr.IllegalGeneration},
		{"member before its sync", "completing", rebalancing.MemberID, 1, kerr.RebalanceInProgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := commit(t, c, tc.group, tc.member, tc.gen, "t", map[int32]int64{0: 10, 1: 11})
			wantCode(t, "commit", commitCode(t, resp), tc.want)
		})
	}
	if got := fetched(c, "unknown"); len(got) != 0 {
		t.Fatalf("refused commit created offsets: %v", got)
	}

	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group = "simple"
	for _, tp := range []struct {
		topic string
		p     int32
		md    string
	}{{"t", 2, "ok"}, {"t", 9, ""}, {"other", 0, ""}, {"t", 3, strings.Repeat("x", maxMetadataBytes+1)}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = tp.topic
		rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: tp.p, Offset: 5, Metadata: kmsg.StringPtr(tp.md)}}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.OffsetCommit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*kerr.Error{nil, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.OffsetMetadataTooLarge} {
		wantCode(t, fmt.Sprint("partition ", i), resp.Topics[i].Partitions[0].ErrorCode, want)
	}
	if got := fetched(c, "simple")["t"]; !maps.Equal(got, map[int32]int64{0: 10, 1: 11, 2: 5}) {
		t.Fatalf("committed %v", got)
	}
}

func TestOffsetFetchVersions(t *testing.T) {
	c := newCoord(t, Options{})
	commit(t, c, "g", "", -1, "b", map[int32]int64{1: 20, 0: 10})
	commit(t, c, "g", "", -1, "a", map[int32]int64{0: 5})

	// v1: listed partitions only; unknown ones are -1.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 1
	req.Group = "g"
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "b", Partitions: []int32{1, 7}}}
	resp := c.OffsetFetch(req)
	ps := resp.Topics[0].Partitions
	if len(resp.Topics) != 1 || ps[0].Offset != 20 || *ps[0].Metadata != "meta" || ps[1].Offset != -1 || ps[1].LeaderEpoch != -1 {
		t.Fatalf("v1 answer %+v", resp.Topics)
	}

	// v5: null topics asks for everything, sorted; the leader epoch is kept.
	req = kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = "g"
	var got []string
	for _, tp := range c.OffsetFetch(req).Topics {
		for _, p := range tp.Partitions {
			got = append(got, fmt.Sprintf("%s/%d=%d@%d", tp.Topic, p.Partition, p.Offset, p.LeaderEpoch))
		}
	}
	if want := "a/0=5@3 b/0=10@3 b/1=20@3"; strings.Join(got, " ") != want {
		t.Fatalf("v5 all: %v, want %s", got, want)
	}

	// v8: several groups, null and listed topics; an unknown group has nothing.
	req = kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "a", Partitions: []int32{0}}}},
		{Group: "g"},
		{Group: "missing"},
	}
	gs := c.OffsetFetch(req).Groups
	if len(gs) != 3 || len(gs[0].Topics) != 1 || gs[0].Topics[0].Partitions[0].Offset != 5 || len(gs[1].Topics) != 2 || len(gs[2].Topics) != 0 {
		t.Fatalf("v8 answer %+v", gs)
	}
}

func TestOffsetDelete(t *testing.T) {
	c := newCoord(t, Options{PartitionExists: func(topic string, _ int32) bool { return topic != "gone" }})
	md := (&kmsg.ConsumerMemberMetadata{Version: 0, Topics: []string{"subscribed"}}).AppendTo(nil)
	m := tm{group: "busy", protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: md}}}
	a := join(t, c, m)
	recv(t, syncAsync(c, "busy", a.MemberID, 1, nil))
	commit(t, c, "busy", a.MemberID, 1, "subscribed", map[int32]int64{0: 1})
	commit(t, c, "busy", a.MemberID, 1, "old", map[int32]int64{0: 1, 1: 2})
	commit(t, c, "idle", "", -1, "subscribed", map[int32]int64{0: 1})

	del := func(group string, topics ...string) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		for _, tp := range topics {
			req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: tp, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
		}
		resp, err := c.OffsetDelete(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := del("busy", "subscribed", "old", "gone")
	wantCode(t, "group", resp.ErrorCode, nil)
	wantCode(t, "subscribed topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, "unsubscribed topic", resp.Topics[1].Partitions[0].ErrorCode, nil)
	wantCode(t, "unknown topic", resp.Topics[2].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	if got := fetched(c, "busy"); len(got["subscribed"]) != 1 || !maps.Equal(got["old"], map[int32]int64{1: 2}) {
		t.Fatalf("offsets after delete: %v", got)
	}
	wantCode(t, "unknown group", del("missing", "old").ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "empty group", del("idle", "subscribed").Topics[0].Partitions[0].ErrorCode, nil)
	// The group had only that offset: it is gone.
	if got := c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups; len(got) != 1 || got[0].Group != "busy" {
		t.Fatalf("groups %+v", got)
	}

	// Members of a group of another protocol type say nothing about their topics.
	o := join(t, c, tm{group: "connect", protocolType: "connect"})
	recv(t, syncAsync(c, "connect", o.MemberID, 1, nil))
	commit(t, c, "connect", o.MemberID, 1, "old", map[int32]int64{0: 1})
	wantCode(t, "non-consumer group", del("connect", "old").ErrorCode, kerr.NonEmptyGroup)
}

func TestOffsetsSurviveReopen(t *testing.T) {
	for _, syncEach := range []bool{false, true} {
		t.Run(fmt.Sprint("sync=", syncEach), func(t *testing.T) {
			dir := t.TempDir()
			c := newCoord(t, Options{Dir: dir, Sync: syncEach})
			commit(t, c, "g1", "", -1, "t", map[int32]int64{0: 1, 1: 2})
			commit(t, c, "g1", "", -1, "t", map[int32]int64{0: 3})
			commit(t, c, "g2", "", -1, "u", map[int32]int64{5: 50})
			commit(t, c, "g3", "", -1, "doomed", map[int32]int64{0: 1})
			c.DeleteTopic("doomed")
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c2 := newCoord(t, Options{Dir: dir})
			want := map[string]map[string]map[int32]int64{
				"g1": {"t": {0: 3, 1: 2}},
				"g2": {"u": {5: 50}},
				"g3": {},
			}
			for g, w := range want {
				if got := fetched(c2, g); !maps.EqualFunc(got, w, maps.Equal) {
					t.Fatalf("%s after reopen: %v, want %v", g, got, w)
				}
			}
			var names []string
			for _, g := range c2.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
				names = append(names, g.Group+"/"+g.GroupState)
			}
			if strings.Join(names, ",") != "g1/Empty,g2/Empty" {
				t.Fatalf("groups after reopen: %v", names)
			}
		})
	}
}

func TestTornOffsetsLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(data []byte) []byte
	}{
		{"half a header", func(d []byte) []byte { return append(d, 0, 0, 0) }},
		{"half a record", func(d []byte) []byte { return d[:len(d)-3] }},
		{"zeroed tail", func(d []byte) []byte { return append(d, make([]byte, 64)...) }},
		{"flipped byte in last record", func(d []byte) []byte { d[len(d)-2] ^= 0xff; return d }},
		{"length past the end", func(d []byte) []byte { return append(d, 0, 0, 1, 0, 1, 2, 3, 4, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newCoord(t, Options{Dir: dir, Sync: true})
			commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
			commit(t, c, "g", "", -1, "t", map[int32]int64{1: 2})
			c.Close()
			path := filepath.Join(dir, logFile)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			intact := len(data)
			if err := os.WriteFile(path, tc.tear(data), 0o644); err != nil {
				t.Fatal(err)
			}
			c2 := newCoord(t, Options{Dir: dir, Sync: true})
			got := fetched(c2, "g")["t"]
			if got[0] != 1 {
				t.Fatalf("first commit lost: %v", got)
			}
			// Appends after the cut are readable on the next open.
			commit(t, c2, "g", "", -1, "t", map[int32]int64{2: 3})
			c2.Close()
			if st, _ := os.Stat(path); st.Size() > int64(intact)+64 {
				t.Fatalf("log is %d bytes; the torn tail was not cut", st.Size())
			}
			c3 := newCoord(t, Options{Dir: dir})
			if got := fetched(c3, "g")["t"]; got[0] != 1 || got[2] != 3 {
				t.Fatalf("after a second reopen: %v", got)
			}
		})
	}
}

func TestOffsetsLogRejectsForeignFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, logFile), []byte("not an offsets log"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("New on a foreign file: %v, want ErrCorrupt", err)
	}
}

func TestOffsetsLogCompaction(t *testing.T) {
	dir := t.TempDir()
	c := newCoord(t, Options{Dir: dir, Sync: true, minCompact: 4 << 10}) // compact after a few KiB
	for i := range 200 {
		commit(t, c, "g", "", -1, "t", map[int32]int64{int32(i % 3): int64(i)})
	}
	st, err := os.Stat(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 8<<10 {
		t.Fatalf("log is %d bytes after 200 commits of 3 partitions; not compacted", st.Size())
	}
	commit(t, c, "h", "", -1, "t", map[int32]int64{0: 1})
	c.Close()
	c2 := newCoord(t, Options{Dir: dir})
	if got := fetched(c2, "g")["t"]; !maps.Equal(got, map[int32]int64{0: 198, 1: 199, 2: 197}) {
		t.Fatalf("after compaction and reopen: %v", got)
	}
	if got := fetched(c2, "h")["t"]; got[0] != 1 {
		t.Fatalf("commit after compaction lost: %v", got)
	}
}

func TestConcurrentSyncedCommits(t *testing.T) {
	dir := t.TempDir()
	c := newCoord(t, Options{Dir: dir, Sync: true})
	const writers, each = 16, 25
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				resp := commit(t, c, fmt.Sprint("g", w), "", -1, "t", map[int32]int64{0: int64(i)})
				if code := commitCode(t, resp); code != 0 {
					t.Errorf("commit: %v", kerr.ErrorForCode(code))
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d synced commits in %v", writers*each, time.Since(start))
	c.Close()
	c2 := newCoord(t, Options{Dir: dir})
	for w := range writers {
		if got := fetched(c2, fmt.Sprint("g", w))["t"][0]; got != each-1 {
			t.Fatalf("g%d: offset %d, want %d", w, got, each-1)
		}
	}
}
