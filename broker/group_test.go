package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupSeen records which produced values some consumer has polled.
type groupSeen struct {
	mu   sync.Mutex
	vals map[int]int
}

func (s *groupSeen) add(v int) {
	s.mu.Lock()
	s.vals[v]++
	s.mu.Unlock()
}

func (s *groupSeen) missing(n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m []int
	for i := range n {
		if s.vals[i] == 0 {
			m = append(m, i)
		}
	}
	return m
}

// groupMember runs one kgo group consumer until stop is closed, then closes it, which
// commits what it polled and leaves the group.
type groupMember struct {
	stop chan struct{}
	done chan struct{}
}

func startGroupMember(t *testing.T, b *Broker, group, topic string, seen *groupSeen, balancers []kgo.GroupBalancer) *groupMember {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.Balancers(balancers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.AutoCommitInterval(200*time.Millisecond),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	m := &groupMember{stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.stop
		cancel()
	}()
	go func() {
		defer close(m.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				v, err := strconv.Atoi(string(r.Value))
				if err != nil {
					t.Errorf("unexpected value %q", r.Value)
					return
				}
				seen.add(v)
			})
		}
	}()
	return m
}

// close stops the member and waits until it has left the group.
func (m *groupMember) close(t *testing.T) {
	t.Helper()
	close(m.stop)
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		t.Fatal("group member did not close")
	}
}

// groupOffsets returns group's committed offsets of topic and the topic's end offsets.
func groupOffsets(t *testing.T, adm *kadm.Client, group, topic string) (committed, end map[int32]int64) {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	if err := fetched.Error(); err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	committed = map[int32]int64{}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			committed[o.Partition] = o.At
		}
	})
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	end = map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	return committed, end
}

// TestGroupMembersJoinAndLeave runs a consumer group whose members come and go while a
// producer writes: every record is consumed at least once, and the group's committed
// offsets end at the end of every partition. The broker only relays assignments, so
// eager, cooperative and mixed assignors all work.
func TestGroupMembersJoinAndLeave(t *testing.T) {
	for _, tc := range []struct {
		name string
		// balancers[i%len] are the balancers of the i-th member to start.
		balancers [][]kgo.GroupBalancer
	}{
		{"cooperative-sticky", [][]kgo.GroupBalancer{{kgo.CooperativeStickyBalancer()}}},
		{"range", [][]kgo.GroupBalancer{{kgo.RangeBalancer()}}},
		{"mixed sticky and roundrobin", [][]kgo.GroupBalancer{
			{kgo.StickyBalancer(), kgo.RoundRobinBalancer()},
			{kgo.RoundRobinBalancer()},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != "cooperative-sticky" {
				t.Skip("one assignor is enough in -short mode")
			}
			testGroupChurn(t, tc.balancers)
		})
	}
}

func testGroupChurn(t *testing.T, balancers [][]kgo.GroupBalancer) {
	b := startBroker(t, Config{})
	const topic, group, total = "churn", "churners", 3000
	createTopic(t, b, topic, 6, nil)
	seen := &groupSeen{vals: map[int]int{}}

	producer := newClient(t, b, kgo.DefaultProduceTopic(topic))
	produced := make(chan error, 1)
	go func() {
		ctx := testCtx(t, 20*time.Second)
		for i := 0; i < total; i += 50 {
			var rs []*kgo.Record
			for j := i; j < i+50; j++ {
				rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(j)), Value: []byte(strconv.Itoa(j))})
			}
			if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		produced <- nil
	}()

	started := 0
	start := func() *groupMember {
		m := startGroupMember(t, b, group, topic, seen, balancers[started%len(balancers)])
		started++
		return m
	}
	// Three members join one after the other, the first leaves, a fourth joins, the
	// second leaves: every change is a rebalance while records arrive.
	m1 := start()
	time.Sleep(300 * time.Millisecond)
	m2 := start()
	time.Sleep(300 * time.Millisecond)
	m3 := start()
	time.Sleep(400 * time.Millisecond)
	m1.close(t)
	time.Sleep(300 * time.Millisecond)
	m4 := start()
	time.Sleep(300 * time.Millisecond)
	m2.close(t)
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}

	adm := kadm.NewClient(newClient(t, b))
	deadline := time.Now().Add(15 * time.Second)
	for {
		committed, end := groupOffsets(t, adm, group, topic)
		missing := seen.missing(total)
		if len(missing) == 0 && maps.Equal(committed, end) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after churn: %d records never consumed (first %v); committed %v, end %v", len(missing), missing[:min(len(missing), 10)], committed, end)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m3.close(t)
	m4.close(t)
	committed, end := groupOffsets(t, adm, group, topic)
	if !maps.Equal(committed, end) {
		t.Fatalf("after the last members left: committed %v, end %v", committed, end)
	}
	var sum int64
	for _, o := range end {
		sum += o
	}
	if sum != total {
		t.Fatalf("partitions hold %d records, produced %d", sum, total)
	}
	described, err := adm.DescribeGroups(testCtx(t, 5*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if d := described[group]; d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("group after everyone left: %s with %d members", d.State, len(d.Members))
	}
}

// TestGroupCommitsSurviveRestart commits offsets as a group member and as a simple
// consumer, restarts the broker on the same data directory and reads them back.
func TestGroupCommitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	const topic = "durable"
	createTopic(t, b, topic, 3, nil)
	producer := newClient(t, b, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := range 30 {
		rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	if err := producer.ProduceSync(testCtx(t, 10*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	// A group member consumes everything and commits.
	consumer := newClient(t, b,
		kgo.ConsumerGroup("member-group"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	ctx := testCtx(t, 15*time.Second)
	for n := 0; n < len(rs); {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, len(rs), err)
		}
		n += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	consumer.Close()

	// A simple consumer commits without joining (generation -1), with metadata.
	adm := kadm.NewClient(newClient(t, b))
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1, Metadata: "simple"})
	simple.Add(kadm.Offset{Topic: topic, Partition: 2, At: 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "simple-group", simple); err != nil {
		t.Fatalf("simple commit: %v", err)
	}
	memberCommitted, end := groupOffsets(t, adm, "member-group", topic)
	if !maps.Equal(memberCommitted, end) {
		t.Fatalf("member commits %v, end offsets %v", memberCommitted, end)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b2 := startBroker(t, Config{DataDir: dir})
	adm2 := kadm.NewClient(newClient(t, b2))
	if got, _ := groupOffsets(t, adm2, "member-group", topic); !maps.Equal(got, memberCommitted) {
		t.Fatalf("member commits after restart %v, before %v", got, memberCommitted)
	}
	fetched, err := adm2.FetchOffsets(testCtx(t, 5*time.Second), "simple-group")
	if err != nil || fetched.Error() != nil {
		t.Fatalf("FetchOffsets: %v %v", err, fetched.Error())
	}
	if o, _ := fetched.Lookup(topic, 0); o.At != 4 || o.Metadata != "simple" {
		t.Fatalf("simple commit of partition 0 after restart: %+v", o)
	}
	if o, _ := fetched.Lookup(topic, 2); o.At != 1 {
		t.Fatalf("simple commit of partition 2 after restart: %+v", o)
	}
	listed, err := adm2.ListGroups(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"member-group", "simple-group"} {
		if l, ok := listed[g]; !ok || l.State != "Empty" {
			t.Fatalf("group %s after restart: %+v (listed %v)", g, l, listed.Groups())
		}
	}
}

// TestGroupAdmin exercises kadm's group calls against a live and an idle group.
func TestGroupAdmin(t *testing.T) {
	b := startBroker(t, Config{})
	const topic = "admin-groups"
	createTopic(t, b, topic, 2, nil)
	createTopic(t, b, "other", 1, nil)
	producer := newClient(t, b, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := range 10 {
		rs = append(rs, &kgo.Record{Key: []byte{byte(i)}, Value: []byte(fmt.Sprint(i))})
	}
	ctx := testCtx(t, 20*time.Second)
	if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	live := newClient(t, b,
		kgo.ClientID("live-client"),
		kgo.ConsumerGroup("live"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	for n := 0; n < len(rs); {
		fs := live.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("live consumer got no records")
		}
		n += fs.NumRecords()
	}
	if err := live.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	adm := kadm.NewClient(newClient(t, b))
	idle := kadm.Offsets{}
	idle.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1})
	idle.Add(kadm.Offset{Topic: "other", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "idle", idle); err != nil {
		t.Fatalf("idle commit: %v", err)
	}
	// The live group also holds an offset of a topic it does not subscribe to.
	if err := adm.CommitAllOffsets(ctx, "live", kadm.OffsetsFromRecords(kgo.Record{Topic: "other", Partition: 0, Offset: 0})); err == nil {
		t.Fatal("a simple commit into a group with members was accepted")
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if listed["live"].State != "Stable" || listed["live"].ProtocolType != "consumer" || listed["idle"].State != "Empty" {
		t.Fatalf("listed %+v", listed)
	}
	if stable, err := adm.ListGroups(ctx, "Stable"); err != nil || len(stable) != 1 || stable["live"].Group != "live" {
		t.Fatalf("ListGroups(Stable): %v %+v", err, stable)
	}

	described, err := adm.DescribeGroups(ctx, "live", "idle")
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	d := described["live"]
	if d.Err != nil || d.State != "Stable" || d.Protocol == "" || len(d.Members) != 1 {
		t.Fatalf("live group %+v", d)
	}
	if m := d.Members[0]; m.ClientID != "live-client" || m.ClientHost != "/127.0.0.1" || len(d.AssignedPartitions()[topic]) != 2 {
		t.Fatalf("live member %+v, assigned %v", m, d.AssignedPartitions())
	}
	if consumerMeta, ok := d.Members[0].Join.AsConsumer(); !ok || len(consumerMeta.Topics) != 1 || consumerMeta.Topics[0] != topic {
		t.Fatalf("live member's join metadata %+v", d.Members[0].Join)
	}
	if described["idle"].State != "Empty" {
		t.Fatalf("idle group %+v", described["idle"])
	}

	// A group with members cannot be deleted, nor its offsets of subscribed topics.
	deleted, err := adm.DeleteGroups(ctx, "live", "idle", "missing")
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	for g, want := range map[string]error{"live": kerr.NonEmptyGroup, "idle": nil, "missing": kerr.GroupIDNotFound} {
		if got := deleted[g].Err; !errors.Is(got, want) && got != want {
			t.Fatalf("DeleteGroups %s: %v, want %v", g, got, want)
		}
	}
	if o, err := adm.FetchOffsets(ctx, "idle"); err != nil || len(o) != 0 {
		t.Fatalf("offsets of a deleted group: %v %v", o, err)
	}
	dres, err := adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if err, _ := dres.Lookup(topic, 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("deleting a subscribed topic's offset: %v", err)
	}

	// Once its member leaves, the group is empty and its offsets can go.
	live.Close()
	if dres, err = adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{topic: {0: {}}}); err != nil || dres.Error() != nil {
		t.Fatalf("DeleteOffsets after leave: %v %v", err, dres.Error())
	}
	left, err := adm.FetchOffsets(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := left.Lookup(topic, 0); ok {
		t.Fatal("deleted offset still fetched")
	}
	if o, ok := left.Lookup(topic, 1); !ok || o.At <= 0 {
		t.Fatalf("partition 1's offset: %+v %v", o, ok)
	}
	if _, err := adm.DeleteGroup(ctx, "live"); err != nil {
		t.Fatalf("DeleteGroup after leave: %v", err)
	}
	if listed, err = adm.ListGroups(ctx); err != nil || len(listed) != 0 {
		t.Fatalf("groups after deleting all: %v %v", listed.Groups(), err)
	}
}
