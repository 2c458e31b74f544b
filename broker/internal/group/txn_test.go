package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eddy-io/eddy/broker/internal/journal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tx is a test TxnOffsetCommit; version 0 means v3, a negative one v0.
type tx struct {
	version    int16
	group      string
	producerID int64
	member     string
	generation int32
	instance   *string
	topic      string
	offsets    map[int32]int64
	metadata   string
}

func txnCommit(t *testing.T, c *Coordinator, x tx) *kmsg.TxnOffsetCommitResponse {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	switch {
	case x.version == 0:
		req.Version = 3
	case x.version > 0:
		req.Version = x.version
	}
	req.TransactionalID = "txn"
	req.Group = x.group
	req.ProducerID = x.producerID
	req.MemberID = x.member
	req.Generation = x.generation
	req.InstanceID = x.instance
	if x.topic == "" {
		x.topic = "t"
	}
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = x.topic
	for p, o := range x.offsets {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition = p
		rp.Offset = o
		rp.LeaderEpoch = 4
		rp.Metadata = kmsg.StringPtr(x.metadata)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := c.TxnOffsetCommit(t.Context(), req)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	return resp
}

// txnCode is the single error code of a transactional commit of one topic.
func txnCode(t *testing.T, resp *kmsg.TxnOffsetCommitResponse) int16 {
	t.Helper()
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != code {
			t.Fatalf("partitions disagree: %+v", resp.Topics[0].Partitions)
		}
	}
	return code
}

func mustTxn(t *testing.T, c *Coordinator, group string, pid int64, topic string, offsets map[int32]int64) {
	t.Helper()
	resp := txnCommit(t, c, tx{group: group, producerID: pid, generation: -1, topic: topic, offsets: offsets})
	wantCode(t, "txn commit", txnCode(t, resp), nil)
}

func complete(t *testing.T, c *Coordinator, group string, pid int64, commit bool) {
	t.Helper()
	if err := c.CompleteTxn(t.Context(), group, pid, commit); err != nil {
		t.Fatalf("CompleteTxn(%s, %d, %v): %v", group, pid, commit, err)
	}
}

// stable fetches group's offsets with RequireStable as "topic/partition=offset" or
// "topic/partition=UNSTABLE", in request order; topics nil asks for all.
func stable(t *testing.T, c *Coordinator, version int16, group string, topics map[string][]int32) string {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = version
	req.RequireStable = true
	type part struct {
		topic     string
		partition int32
		offset    int64
		epoch     int32
		metadata  *string
		code      int16
	}
	var got []part
	if version >= 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		for _, tp := range slices.Sorted(maps.Keys(topics)) {
			rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: tp, Partitions: topics[tp]})
		}
		req.Groups = append(req.Groups, rg)
		resp := c.OffsetFetch(req)
		wantCode(t, "group", resp.Groups[0].ErrorCode, nil)
		for _, rt := range resp.Groups[0].Topics {
			for _, p := range rt.Partitions {
				got = append(got, part{rt.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode})
			}
		}
	} else {
		req.Group = group
		if topics != nil {
			req.Topics = []kmsg.OffsetFetchRequestTopic{}
		}
		for _, tp := range slices.Sorted(maps.Keys(topics)) {
			req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: tp, Partitions: topics[tp]})
		}
		resp := c.OffsetFetch(req)
		wantCode(t, "top level", resp.ErrorCode, nil)
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				got = append(got, part{rt.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode})
			}
		}
	}
	var out []string
	for _, p := range got {
		switch p.code {
		case kerr.UnstableOffsetCommit.Code:
			if p.offset != -1 || p.epoch != -1 || p.metadata == nil || *p.metadata != "" {
				t.Fatalf("unstable partition carries values: %+v", p)
			}
			out = append(out, fmt.Sprintf("%s/%d=UNSTABLE", p.topic, p.partition))
		case 0:
			out = append(out, fmt.Sprintf("%s/%d=%d", p.topic, p.partition, p.offset))
		default:
			t.Fatalf("partition error %v", kerr.ErrorForCode(p.code))
		}
	}
	return strings.Join(out, " ")
}

func TestTxnOffsetsPendingUntilTxnEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool
		want   map[int32]int64
	}{
		{"commit", true, map[int32]int64{0: 10, 1: 11, 2: 2}},
		{"abort", false, map[int32]int64{0: 0, 2: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCoord(t, Options{Sync: true})
			commit(t, c, "g", "", -1, "t", map[int32]int64{0: 0, 2: 2})
			mustTxn(t, c, "g", 7, "t", map[int32]int64{0: 10, 1: 11})

			if got := fetched(c, "g")["t"]; !maps.Equal(got, map[int32]int64{0: 0, 2: 2}) {
				t.Fatalf("pending offsets visible: %v", got)
			}
			for _, v := range []int16{7, 8} {
				want := "t/0=UNSTABLE t/1=UNSTABLE t/2=2 t/3=-1"
				if got := stable(t, c, v, "g", map[string][]int32{"t": {0, 1, 2, 3}}); got != want {
					t.Fatalf("v%d RequireStable: %s, want %s", v, got, want)
				}
				// Null topics: the committed partitions only, as Kafka lists them.
				if got := stable(t, c, v, "g", nil); got != "t/0=UNSTABLE t/2=2" {
					t.Fatalf("v%d RequireStable, all topics: %s", v, got)
				}
			}
			// Another producer's transaction in another group is no business of g's.
			mustTxn(t, c, "other", 8, "t", map[int32]int64{2: 99})

			complete(t, c, "g", 7, tc.commit)
			if got := fetched(c, "g")["t"]; !maps.Equal(got, tc.want) {
				t.Fatalf("after the transaction: %v, want %v", got, tc.want)
			}
			if got := stable(t, c, 8, "g", map[string][]int32{"t": {0, 1, 2}}); strings.Contains(got, "UNSTABLE") {
				t.Fatalf("still unstable after the transaction: %s", got)
			}
			// Idempotent, whichever way it is repeated; and a no-op for unknown ones.
			complete(t, c, "g", 7, tc.commit)
			complete(t, c, "g", 7, !tc.commit)
			complete(t, c, "g", 12345, true)
			complete(t, c, "nosuchgroup", 7, true)
			if got := fetched(c, "g")["t"]; !maps.Equal(got, tc.want) {
				t.Fatalf("after repeated CompleteTxn: %v, want %v", got, tc.want)
			}
			if got := stable(t, c, 8, "other", map[string][]int32{"t": {2}}); got != "t/2=UNSTABLE" {
				t.Fatalf("other group: %s", got)
			}
		})
	}
}

func TestTxnOffsetCommitChecks(t *testing.T) {
	c := newCoord(t, Options{PartitionExists: func(topic string, p int32) bool { return topic == "t" && p < 4 }})
	a := join(t, c, tm{group: "members"})
	recv(t, syncAsync(c, "members", a.MemberID, 1, nil))
	s := join(t, c, tm{group: "static", instance: "i1"})
	recv(t, syncAsync(c, "static", s.MemberID, 1, nil))
	completing := join(t, c, tm{group: "completing"}) // joined, not synced yet
	i1, nobody := kmsg.StringPtr("i1"), kmsg.StringPtr("nobody")

	for _, tc := range []struct {
		name string
		tx
		want *kerr.Error
	}{
		{"v0 into a group with members", tx{version: -1, group: "members"}, nil},
		{"v0 ignores what the struct holds", tx{version: -1, group: "members", member: "x", generation: 9}, nil},
		{"v2 into a new group", tx{version: 2, group: "fresh2"}, nil},
		{"v3 no member into a group with members", tx{group: "members", generation: -1}, nil},
		{"v3 unknown group, generation -1", tx{group: "simple", generation: -1}, nil},
		{"v3 unknown group, generation -1 with a member id", tx{group: "simple2", member: "m", generation: -1}, nil},
		{"v3 unknown group, a generation", tx{group: "unknown", member: "m", generation: 3}, kerr.IllegalGeneration},
		{"v3 member", tx{group: "members", member: a.MemberID, generation: 1}, nil},
		{"v3 member, wrong generation", tx{group: "members", member: a.MemberID, generation: 2}, kerr.IllegalGeneration},
		{"v3 member, generation -1", tx{group: "members", member: a.MemberID, generation: -1}, kerr.IllegalGeneration},
		{"v3 unknown member", tx{group: "members", member: "nobody", generation: 1}, kerr.UnknownMemberID},
		{"v3 empty member id with a generation", tx{group: "members", generation: 1}, kerr.UnknownMemberID},
		{"v3 static member", tx{group: "static", member: s.MemberID, generation: 1, instance: i1}, nil},
		{"v3 static member, old member id", tx{group: "static", member: "old-incarnation", generation: 1, instance: i1}, kerr.FencedInstanceID},
		{"v3 unknown instance", tx{group: "static", member: s.MemberID, generation: 1, instance: nobody}, kerr.UnknownMemberID},
		{"v3 static member, wrong generation", tx{group: "static", member: s.MemberID, generation: 5, instance: i1}, kerr.IllegalGeneration},
		{"v3 member before its sync", tx{group: "completing", member: completing.MemberID, generation: 1}, nil},
		{"v3 empty group id", tx{generation: -1}, kerr.InvalidGroupID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tc.tx
			x.producerID = 1
			x.offsets = map[int32]int64{0: 10, 1: 11}
			wantCode(t, "txn commit", txnCode(t, txnCommit(t, c, x)), tc.want)
		})
	}
	// Refused commits left nothing behind.
	if got := stable(t, c, 8, "unknown", map[string][]int32{"t": {0}}); got != "t/0=-1" {
		t.Fatalf("refused commit left pending offsets: %s", got)
	}
	for _, g := range c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
		if g.Group == "unknown" {
			t.Fatal("refused commit created a group")
		}
	}

	// Partition errors, one per partition, beside an accepted one.
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.Group = "simple"
	req.ProducerID = 2
	for _, tp := range []struct {
		topic string
		p     int32
		md    string
	}{{"t", 2, "ok"}, {"t", 9, ""}, {"other", 0, ""}, {"t", 3, strings.Repeat("x", maxMetadataBytes+1)}} {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = tp.topic
		rt.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: tp.p, Offset: 5, Metadata: kmsg.StringPtr(tp.md)}}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.TxnOffsetCommit(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*kerr.Error{nil, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.OffsetMetadataTooLarge} {
		wantCode(t, fmt.Sprint("partition ", i), resp.Topics[i].Partitions[0].ErrorCode, want)
	}
	complete(t, c, "simple", 2, true)
	if got := fetched(c, "simple")["t"]; !maps.Equal(got, map[int32]int64{2: 5}) {
		t.Fatalf("committed %v", got)
	}
}

func TestTxnOffsetsSurviveReopen(t *testing.T) {
	for _, syncEach := range []bool{false, true} {
		t.Run(fmt.Sprint("sync=", syncEach), func(t *testing.T) {
			dir := t.TempDir()
			c := newCoord(t, Options{Dir: dir, Sync: syncEach})
			commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1})
			mustTxn(t, c, "g", 1, "t", map[int32]int64{0: 10, 1: 11})
			mustTxn(t, c, "g", 2, "u", map[int32]int64{0: 20})
			mustTxn(t, c, "only-pending", 3, "t", map[int32]int64{5: 50})
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.CompleteTxn(t.Context(), "g", 1, true); err == nil {
				t.Fatal("CompleteTxn after Close succeeded")
			}

			c2 := newCoord(t, Options{Dir: dir, Sync: syncEach})
			if got := stable(t, c2, 8, "g", map[string][]int32{"t": {0, 1}, "u": {0}}); got != "t/0=UNSTABLE t/1=UNSTABLE u/0=UNSTABLE" {
				t.Fatalf("after reopen: %s", got)
			}
			var names []string
			for _, g := range c2.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
				names = append(names, g.Group+"/"+g.GroupState)
			}
			if strings.Join(names, ",") != "g/Empty,only-pending/Empty" {
				t.Fatalf("groups after reopen: %v", names)
			}
			// The transaction coordinator finishes what was completing before the restart.
			complete(t, c2, "g", 1, true)
			complete(t, c2, "g", 2, false)
			complete(t, c2, "only-pending", 3, true)
			c2.Close()

			c3 := newCoord(t, Options{Dir: dir, Sync: syncEach})
			if got := stable(t, c3, 8, "g", nil); got != "t/0=10 t/1=11" {
				t.Fatalf("after the second reopen: %s", got)
			}
			if got := stable(t, c3, 8, "only-pending", nil); got != "t/5=50" {
				t.Fatalf("only-pending after the second reopen: %s", got)
			}
			// Again, as after another restart: nothing changes.
			complete(t, c3, "g", 1, true)
			complete(t, c3, "g", 2, true)
			if got := stable(t, c3, 8, "g", nil); got != "t/0=10 t/1=11" {
				t.Fatalf("after repeating CompleteTxn: %s", got)
			}
		})
	}
}

func TestTxnCommitKeepsNewerOffsets(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprint("compact=", compact), func(t *testing.T) {
			dir := t.TempDir()
			c := newCoord(t, Options{Dir: dir, Sync: true})
			commit(t, c, "g", "", -1, "t", map[int32]int64{0: 1, 3: 3})      // older than the transactions
			mustTxn(t, c, "g", 1, "t", map[int32]int64{0: 10, 1: 11, 2: 12}) // producer 1
			commit(t, c, "g", "", -1, "t", map[int32]int64{1: 50})           // newer than producer 1's
			mustTxn(t, c, "g", 2, "t", map[int32]int64{2: 22})               // producer 2, newer still
			commit(t, c, "other", "", -1, "t", map[int32]int64{0: 7})        // unrelated group
			mustTxn(t, c, "other", 1, "t", map[int32]int64{1: 8})            // same producer, other group
			if compact {
				forceCompaction(t, c)
				c.Close()
				c = newCoord(t, Options{Dir: dir, Sync: true})
			}
			complete(t, c, "g", 2, true) // producer 2 ends first
			complete(t, c, "g", 1, true) // producer 1's t/2 is older than producer 2's
			want := map[int32]int64{0: 10, 1: 50, 2: 22, 3: 3}
			if got := fetched(c, "g")["t"]; !maps.Equal(got, want) {
				t.Fatalf("committed %v, want %v", got, want)
			}
			if got := stable(t, c, 8, "other", nil); got != "t/0=7" {
				t.Fatalf("other group: %s", got)
			}
		})
	}
}

// forceCompaction rewrites c's offsets log now.
func forceCompaction(t *testing.T, c *Coordinator) {
	t.Helper()
	path := filepath.Join(c.opts.Dir, logFile)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.store.j.Rebase(true); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Fatal("the log was not rewritten")
	}
}

func TestOffsetsLogCompactionKeepsPending(t *testing.T) {
	dir := t.TempDir()
	c := newCoord(t, Options{Dir: dir, Sync: true, minCompact: 4 << 10}) // compact after a few KiB
	mustTxn(t, c, "txn", 7, "t", map[int32]int64{0: 100, 1: 101})
	for i := range 200 {
		commit(t, c, "g", "", -1, "t", map[int32]int64{int32(i % 3): int64(i)})
	}
	mustTxn(t, c, "txn", 7, "t", map[int32]int64{1: 201}) // overwrites its own pending offset
	st, err := os.Stat(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 8<<10 {
		t.Fatalf("log is %d bytes; not compacted", st.Size())
	}
	c.Close()
	c2 := newCoord(t, Options{Dir: dir})
	if got := stable(t, c2, 8, "txn", map[string][]int32{"t": {0, 1}}); got != "t/0=UNSTABLE t/1=UNSTABLE" {
		t.Fatalf("pending after compaction and reopen: %s", got)
	}
	complete(t, c2, "txn", 7, true)
	if got := fetched(c2, "txn")["t"]; !maps.Equal(got, map[int32]int64{0: 100, 1: 201}) {
		t.Fatalf("committed after compaction: %v", got)
	}
	if got := fetched(c2, "g")["t"]; !maps.Equal(got, map[int32]int64{0: 198, 1: 199, 2: 197}) {
		t.Fatalf("regular offsets after compaction: %v", got)
	}
}

func TestTxnOffsetsAndDeletes(t *testing.T) {
	dir := t.TempDir()
	c := newCoord(t, Options{Dir: dir, Sync: true})
	mustTxn(t, c, "g", 1, "doomed", map[int32]int64{0: 1})
	mustTxn(t, c, "g", 1, "t", map[int32]int64{0: 2, 1: 3})
	mustTxn(t, c, "pending-only", 2, "t", map[int32]int64{0: 4})
	mustTxn(t, c, "pending-only-topic", 3, "doomed", map[int32]int64{0: 5})

	// A deleted topic's pending offsets go, and a group left with nothing with them.
	c.DeleteTopic("doomed")
	if got := stable(t, c, 8, "g", map[string][]int32{"doomed": {0}, "t": {0}}); got != "doomed/0=-1 t/0=UNSTABLE" {
		t.Fatalf("after DeleteTopic: %s", got)
	}

	// OffsetDelete removes a pending offset as Kafka's tombstone does.
	dreq := kmsg.NewPtrOffsetDeleteRequest()
	dreq.Group = "g"
	dreq.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	dresp, err := c.OffsetDelete(t.Context(), dreq)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "OffsetDelete", dresp.ErrorCode, nil)
	if got := stable(t, c, 8, "g", map[string][]int32{"t": {0, 1}}); got != "t/0=UNSTABLE t/1=-1" {
		t.Fatalf("after OffsetDelete: %s", got)
	}

	// An empty group with only pending offsets is deleted, pending offsets and all.
	resp, err := c.DeleteGroups(t.Context(), &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"pending-only", "pending-only-topic"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete group with pending offsets", resp.Groups[0].ErrorCode, nil)
	wantCode(t, "group emptied by DeleteTopic", resp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	complete(t, c, "pending-only", 2, true)
	if got := fetched(c, "pending-only"); len(got) != 0 {
		t.Fatalf("deleted group's transaction committed: %v", got)
	}

	c.Close()
	c2 := newCoord(t, Options{Dir: dir})
	var names []string
	for _, g := range c2.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
		names = append(names, g.Group)
	}
	if strings.Join(names, ",") != "g" {
		t.Fatalf("groups after reopen: %v", names)
	}
	complete(t, c2, "g", 1, true)
	if got := stable(t, c2, 8, "g", nil); got != "t/0=2" {
		t.Fatalf("after reopen and commit: %s", got)
	}
}

func TestTxnRecordEncoding(t *testing.T) {
	for _, o := range []op{
		{kind: opTxnCommit, group: "g", producerID: 1 << 40, entries: []offsetEntry{
			{topic: "t", partition: 3, committed: committed{offset: 9, epoch: -1, metadata: "m"}},
			{topic: "u", partition: 0, committed: committed{offset: 0}},
		}},
		{kind: opTxnEnd, group: "g", producerID: 5, commit: true},
		{kind: opTxnEnd, group: "", producerID: -1, commit: false},
	} {
		got, err := decodeOp(o.encode(nil))
		if err != nil {
			t.Fatalf("decode %+v: %v", o, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(o) {
			t.Fatalf("round trip: %+v, want %+v", got, o)
		}
	}
	bad := (&op{kind: opTxnEnd, group: "g", producerID: 5}).encode(nil)
	bad[len(bad)-1] = 2
	if _, err := decodeOp(bad); !errors.Is(err, journal.ErrBadRecord) {
		t.Fatalf("commit flag 2: %v", err)
	}
	if _, err := decodeOp(append((&op{kind: opTxnEnd, group: "g"}).encode(nil), 0)); !errors.Is(err, journal.ErrBadRecord) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// TestOldOffsetsLogLoads opens a log written byte by byte in the format that predates
// transactional records.
func TestOldOffsetsLogLoads(t *testing.T) {
	dir := t.TempDir()
	var payload []byte
	payload = append(payload, 1, 1, 'g', 1, 1, 't') // commit, group "g", 1 entry, topic "t"
	payload = binary.AppendVarint(payload, 2)       // partition
	payload = binary.AppendVarint(payload, 42)      // offset
	payload = binary.AppendVarint(payload, 3)       // leader epoch
	payload = append(payload, 2, 'm', 'd')          // metadata
	var file bytes.Buffer
	file.WriteString("eddyoff1")
	binary.Write(&file, binary.BigEndian, uint32(len(payload)))
	binary.Write(&file, binary.BigEndian, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	file.Write(payload)
	if err := os.WriteFile(filepath.Join(dir, logFile), file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCoord(t, Options{Dir: dir})
	if got := stable(t, c, 7, "g", nil); got != "t/2=42" {
		t.Fatalf("old log: %s", got)
	}
}

func TestConcurrentTxnOffsets(t *testing.T) {
	c := newCoord(t, Options{Sync: true})
	const producers, rounds = 8, 20
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			group := fmt.Sprint("g", p%2)
			for i := range rounds {
				resp := txnCommit(t, c, tx{group: group, producerID: int64(p), generation: -1, offsets: map[int32]int64{int32(p): int64(i)}})
				if code := txnCode(t, resp); code != 0 {
					t.Errorf("txn commit: %v", kerr.ErrorForCode(code))
					return
				}
				if err := c.CompleteTxn(t.Context(), group, int64(p), i%2 == 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range rounds {
				stable(t, c, 8, fmt.Sprint("g", p%2), map[string][]int32{"t": {int32(p)}})
			}
		})
	}
	wg.Wait()
	for p := range producers {
		if got := fetched(c, fmt.Sprint("g", p%2))["t"][int32(p)]; got != rounds-1 {
			t.Fatalf("producer %d: committed %d, want %d", p, got, rounds-1)
		}
	}
}
