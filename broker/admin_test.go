package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// adminClient returns a kadm client for b.
func adminClient(t testing.TB, b *Broker, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, b, opts...))
}

// versionClient returns a client that speaks at most version v of API key.
func versionClient(t testing.TB, b *Broker, key kmsg.Key, v int16) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key.Int16(), v)
	return newClient(t, b, kgo.MaxVersions(vs))
}

// partitionCount returns how many partitions topic has, or -1 when it does not exist. It
// asks Metadata itself: kadm's topic listing may answer from the client's cache.
func partitionCount(t testing.TB, b *Broker, topic string) int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = ptr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), newClient(t, b))
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	st := resp.Topics[0]
	if st.ErrorCode == kerr.UnknownTopicOrPartition.Code {
		return -1
	}
	if st.ErrorCode != 0 {
		t.Fatalf("metadata of %q: %v", topic, kerr.ErrorForCode(st.ErrorCode))
	}
	return len(st.Partitions)
}

// topicConfigs describes topic's configs, keyed by name.
func topicConfigs(t testing.TB, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

// produceValues writes one record per value to partition 0 of topic.
func produceValues(t testing.TB, b *Broker, topic string, values ...string) {
	t.Helper()
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}
	}
	if err := cl.ProduceSync(testCtx(t, 10*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// deleteBefore is the DeleteRecords request for one partition.
func deleteBefore(topic string, p int32, offset int64) kadm.Offsets {
	var os kadm.Offsets
	os.AddOffset(topic, p, offset, -1)
	return os
}

func TestAdminCreateTopics(t *testing.T) {
	b := startBroker(t, Config{DefaultPartitions: 4})
	adm := adminClient(t, b)
	createTopic(t, b, "existing", 1, nil)
	tests := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		validate   bool
		wantErr    error
		wantParts  int // partitions afterwards; -1 when the topic must not exist
	}{
		{name: "ok", topic: "created", partitions: 3, rf: 1, configs: map[string]*string{"retention.ms": ptr("60000")}, wantParts: 3},
		{name: "default partitions and replication", topic: "defaulted", partitions: -1, rf: -1, wantParts: 4},
		{name: "exists", topic: "existing", partitions: 2, rf: 1, wantErr: kerr.TopicAlreadyExists, wantParts: 1},
		{name: "exists wins over a bad config", topic: "existing", partitions: 2, rf: 1, configs: map[string]*string{"retention.ms": ptr("soon")}, wantErr: kerr.TopicAlreadyExists, wantParts: 1},
		{name: "invalid name", topic: "bad/name", partitions: 1, rf: 1, wantErr: kerr.InvalidTopicException, wantParts: -1},
		{name: "name too long", topic: strings.Repeat("a", 250), partitions: 1, rf: 1, wantErr: kerr.InvalidTopicException, wantParts: -1},
		{name: "dot", topic: ".", partitions: 1, rf: 1, wantErr: kerr.InvalidTopicException, wantParts: -1},
		{name: "bad config value", topic: "bad-value", partitions: 1, rf: 1, configs: map[string]*string{"retention.ms": ptr("soon")}, wantErr: kerr.InvalidConfig, wantParts: -1},
		{name: "config out of range", topic: "bad-range", partitions: 1, rf: 1, configs: map[string]*string{"min.cleanable.dirty.ratio": ptr("1.5")}, wantErr: kerr.InvalidConfig, wantParts: -1},
		{name: "unknown config", topic: "bad-key", partitions: 1, rf: 1, configs: map[string]*string{"retention.forever": ptr("1")}, wantErr: kerr.InvalidConfig, wantParts: -1},
		{name: "zero partitions", topic: "no-parts", partitions: 0, rf: 1, wantErr: kerr.InvalidPartitions, wantParts: -1},
		{name: "replication 3", topic: "rf3", partitions: 1, rf: 3, wantErr: kerr.InvalidReplicationFactor, wantParts: -1},
		{name: "validate only", topic: "dry", partitions: 2, rf: 1, validate: true, wantParts: -1},
		{name: "validate only checks configs", topic: "dry-bad", partitions: 2, rf: 1, validate: true, configs: map[string]*string{"cleanup.policy": ptr("shred")}, wantErr: kerr.InvalidConfig, wantParts: -1},
		{name: "validate only checks existence", topic: "existing", partitions: 2, rf: 1, validate: true, wantErr: kerr.TopicAlreadyExists, wantParts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 10*time.Second)
			create := adm.CreateTopics
			if tt.validate {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, tt.partitions, tt.rf, tt.configs, tt.topic)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp, err := resps.On(tt.topic, nil)
			if err != nil {
				t.Fatalf("no answer for %q: %v", tt.topic, err)
			}
			if !errors.Is(resp.Err, tt.wantErr) {
				t.Fatalf("err = %v (%s), want %v", resp.Err, resp.ErrMessage, tt.wantErr)
			}
			if tt.wantErr != nil && resp.ErrMessage == "" {
				t.Error("an error without a message")
			}
			if tt.wantErr == nil {
				if want := int32(tt.wantParts); !tt.validate && resp.NumPartitions != want {
					t.Errorf("answered NumPartitions %d, want %d", resp.NumPartitions, want)
				}
				if resp.ReplicationFactor != 1 {
					t.Errorf("answered ReplicationFactor %d, want 1", resp.ReplicationFactor)
				}
				for name, v := range tt.configs {
					c := resp.Configs[name]
					if c.MaybeValue() != *v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
						t.Errorf("answered config %s = %q from %v, want %q from DYNAMIC_TOPIC_CONFIG", name, c.MaybeValue(), c.Source, *v)
					}
				}
				if c := resp.Configs["segment.bytes"]; c.MaybeValue() != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
					t.Errorf("answered segment.bytes = %q from %v, want the default", c.MaybeValue(), c.Source)
				}
				if !tt.validate && resp.ID == (kadm.TopicID{}) {
					t.Error("no topic ID answered")
				}
			}
			if got := partitionCount(t, b, tt.topic); got != tt.wantParts {
				t.Fatalf("topic %q has %d partitions afterwards, want %d", tt.topic, got, tt.wantParts)
			}
		})
	}
	if c := topicConfigs(t, adm, "created")["retention.ms"]; c.MaybeValue() != "60000" {
		t.Fatalf("created topic's retention.ms = %q, want 60000", c.MaybeValue())
	}
}

// TestAdminCreateTopicsRequestChecks covers what kadm cannot send: manual replica
// assignments and a topic named twice.
func TestAdminCreateTopicsRequestChecks(t *testing.T) {
	b := startBroker(t, Config{NodeID: 3})
	cl := newClient(t, b)
	assign := func(parts ...[]int32) []kmsg.CreateTopicsRequestTopicReplicaAssignment {
		var out []kmsg.CreateTopicsRequestTopicReplicaAssignment
		for i, r := range parts {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), r
			out = append(out, a)
		}
		return out
	}
	topic := func(name string, n int32, rf int16, as []kmsg.CreateTopicsRequestTopicReplicaAssignment) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor, rt.ReplicaAssignment = name, n, rf, as
		return rt
	}
	misnumbered := assign([]int32{3}, []int32{3})
	misnumbered[1].Partition = 5
	tests := []struct {
		name      string
		topics    []kmsg.CreateTopicsRequestTopic
		want      map[string]error
		wantParts map[string]int
	}{
		{
			name:      "assignment to this node",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("assigned", -1, -1, assign([]int32{3}, []int32{3}))},
			want:      map[string]error{"assigned": nil},
			wantParts: map[string]int{"assigned": 2},
		},
		{
			name:      "assignment to another node",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("elsewhere", -1, -1, assign([]int32{3}, []int32{4}))},
			want:      map[string]error{"elsewhere": kerr.InvalidReplicaAssignment},
			wantParts: map[string]int{"elsewhere": -1},
		},
		{
			name:      "assignment with two replicas",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("twice", -1, -1, assign([]int32{3, 3}))},
			want:      map[string]error{"twice": kerr.InvalidReplicaAssignment},
			wantParts: map[string]int{"twice": -1},
		},
		{
			name:      "assignment skipping a partition",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("gap", -1, -1, misnumbered)},
			want:      map[string]error{"gap": kerr.InvalidReplicaAssignment},
			wantParts: map[string]int{"gap": -1},
		},
		{
			name:      "assignment with a partition count",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("both", 1, -1, assign([]int32{3}))},
			want:      map[string]error{"both": kerr.InvalidRequest},
			wantParts: map[string]int{"both": -1},
		},
		{
			name:      "named twice, the other created",
			topics:    []kmsg.CreateTopicsRequestTopic{topic("dup", 1, 1, nil), topic("single", 1, 1, nil), topic("dup", 2, 1, nil)},
			want:      map[string]error{"dup": kerr.InvalidRequest, "single": nil},
			wantParts: map[string]int{"dup": -1, "single": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Topics = tt.topics
			resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if len(resp.Topics) != len(tt.want) {
				t.Fatalf("%d answers, want %d", len(resp.Topics), len(tt.want))
			}
			for _, st := range resp.Topics {
				want, ok := tt.want[st.Topic]
				if err := kerr.ErrorForCode(st.ErrorCode); !ok || !errors.Is(err, want) {
					t.Errorf("topic %s: err %v, want %v", st.Topic, err, want)
				}
			}
			for name, n := range tt.wantParts {
				if got := partitionCount(t, b, name); got != n {
					t.Errorf("topic %s has %d partitions, want %d", name, got, n)
				}
			}
		})
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	b := startBroker(t, Config{})
	adm := adminClient(t, b)
	createTopic(t, b, "doomed", 2, nil)
	createTopic(t, b, "kept", 1, nil)
	produceValues(t, b, "doomed", "a", "b", "c")

	resps, err := adm.DeleteTopics(testCtx(t, 10*time.Second), "doomed", "never-was")
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	for topic, want := range map[string]error{"doomed": nil, "never-was": kerr.UnknownTopicOrPartition} {
		if r, ok := resps[topic]; !ok || !errors.Is(r.Err, want) {
			t.Errorf("delete %s: %+v, want err %v", topic, r, want)
		}
	}
	if n := partitionCount(t, b, "doomed"); n != -1 {
		t.Fatalf("deleted topic still has %d partitions", n)
	}
	if n := partitionCount(t, b, "kept"); n != 1 {
		t.Fatalf("other topic has %d partitions, want 1", n)
	}
	// A topic created again under the name starts empty.
	createTopic(t, b, "doomed", 1, nil)
	ends, err := adm.ListEndOffsets(testCtx(t, 10*time.Second), "doomed")
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	if o, _ := ends.Lookup("doomed", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("recreated topic ends at %d (%v), want 0", o.Offset, o.Err)
	}
}

// TestAdminDeleteTopicsByID uses DeleteTopics v6, which may name a topic by ID.
func TestAdminDeleteTopicsByID(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "by-id", 1, nil)
	id := b.topics.get("by-id").id
	cl := newClient(t, b)
	byID := func(id [16]byte) kmsg.DeleteTopicsRequestTopic {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		return rt
	}
	both := byID(id)
	both.Topic = ptr("by-id")
	tests := []struct {
		name     string
		topic    kmsg.DeleteTopicsRequestTopic
		want     error
		wantName string
	}{
		{"name and ID", both, kerr.InvalidRequest, "by-id"},
		{"unknown ID", byID([16]byte{1, 2, 3}), kerr.UnknownTopicID, ""},
		{"known ID", byID(id), nil, "by-id"},
		{"ID already deleted", byID(id), kerr.UnknownTopicID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.Version = 6
			req.Topics = []kmsg.DeleteTopicsRequestTopic{tt.topic}
			resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if resp.Version != 6 || len(resp.Topics) != 1 {
				t.Fatalf("answer v%d with %d topics, want v6 with 1", resp.Version, len(resp.Topics))
			}
			st := resp.Topics[0]
			if err := kerr.ErrorForCode(st.ErrorCode); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.wantName != "" && (st.Topic == nil || *st.Topic != tt.wantName) {
				t.Errorf("answered topic %v, want %s", st.Topic, tt.wantName)
			}
		})
	}
	if b.topics.get("by-id") != nil {
		t.Fatal("the topic deleted by ID still exists")
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	b := startBroker(t, Config{MaxPartitionsPerTopic: 6})
	adm := adminClient(t, b)
	createTopic(t, b, "growing", 2, nil)
	tests := []struct {
		name     string
		topic    string
		set      int
		validate bool
		want     error
		wantNow  int
	}{
		{name: "validate only", topic: "growing", set: 4, validate: true, wantNow: 2},
		{name: "grow", topic: "growing", set: 5, wantNow: 5},
		{name: "same count", topic: "growing", set: 5, want: kerr.InvalidPartitions, wantNow: 5},
		{name: "shrink", topic: "growing", set: 3, want: kerr.InvalidPartitions, wantNow: 5},
		{name: "validate only refuses a shrink", topic: "growing", set: 1, validate: true, want: kerr.InvalidPartitions, wantNow: 5},
		{name: "unknown topic", topic: "absent", set: 3, want: kerr.UnknownTopicOrPartition, wantNow: -1},
		{name: "over the broker's limit", topic: "growing", set: 7, want: kerr.InvalidPartitions, wantNow: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			update := adm.UpdatePartitions
			if tt.validate {
				update = adm.ValidateUpdatePartitions
			}
			resps, err := update(testCtx(t, 10*time.Second), tt.set, tt.topic)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if r := resps[tt.topic]; !errors.Is(r.Err, tt.want) {
				t.Fatalf("err %v (%s), want %v", r.Err, r.ErrMessage, tt.want)
			}
			if got := partitionCount(t, b, tt.topic); got != tt.wantNow {
				t.Fatalf("%d partitions afterwards, want %d", got, tt.wantNow)
			}
		})
	}
	if _, err := adm.CreateTopic(testCtx(t, 10*time.Second), 7, 1, nil, "too-wide"); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("creating a topic over the partition limit: %v; want INVALID_PARTITIONS", err)
	}
	// A new partition takes records.
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testCtx(t, 10*time.Second), &kgo.Record{Topic: "growing", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new partition: %v", err)
	}
}

// TestAdminCreatePartitionsAssignment sends manual assignments, which kadm does not.
func TestAdminCreatePartitionsAssignment(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "assigned", 1, nil)
	cl := newClient(t, b)
	tests := []struct {
		name     string
		count    int32
		replicas [][]int32
		want     error
		wantNow  int
	}{
		{"other node", 2, [][]int32{{2}}, kerr.InvalidReplicaAssignment, 1},
		{"too few assignments", 3, [][]int32{{1}}, kerr.InvalidReplicaAssignment, 1},
		{"this node", 3, [][]int32{{1}, {1}}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "assigned", tt.count
			for _, r := range tt.replicas {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = r
				rt.Assignment = append(rt.Assignment, a)
			}
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
			resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if got := len(b.topics.get("assigned").parts()); got != tt.wantNow {
				t.Fatalf("%d partitions afterwards, want %d", got, tt.wantNow)
			}
		})
	}
}

func TestAdminDescribeTopicConfigs(t *testing.T) {
	b := startBroker(t, Config{})
	adm := adminClient(t, b)
	createTopic(t, b, "described", 1, map[string]*string{"retention.ms": ptr("1234"), "cleanup.policy": ptr("compact, delete")})
	got := topicConfigs(t, adm, "described")
	if len(got) != len(topicConfigDefs) {
		t.Errorf("%d configs described, want all %d", len(got), len(topicConfigDefs))
	}
	tests := []struct {
		key      string
		value    string
		source   kmsg.ConfigSource
		synonyms int
	}{
		{"retention.ms", "1234", kmsg.ConfigSourceDynamicTopicConfig, 2},
		{"cleanup.policy", "compact,delete", kmsg.ConfigSourceDynamicTopicConfig, 2},
		{"segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig, 1},
		{"retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig, 1},
		{"message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig, 1},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c, ok := got[tt.key]
			if !ok {
				t.Fatal("not described")
			}
			if c.MaybeValue() != tt.value || c.Source != tt.source {
				t.Fatalf("%q from %v, want %q from %v", c.MaybeValue(), c.Source, tt.value, tt.source)
			}
			if len(c.Synonyms) != tt.synonyms {
				t.Fatalf("synonyms %+v, want %d", c.Synonyms, tt.synonyms)
			}
			if last := c.Synonyms[len(c.Synonyms)-1]; last.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("last synonym from %v, want the default", last.Source)
			}
		})
	}

	rcs, err := adm.DescribeTopicConfigs(testCtx(t, 10*time.Second), "absent")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if rc, _ := rcs.On("absent", nil); !errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("describe an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rc.Err)
	}
}

// TestAdminDescribeConfigsRequest checks what kadm does not ask: named configs,
// documentation, and resources that are not topics.
func TestAdminDescribeConfigsRequest(t *testing.T) {
	b := startBroker(t, Config{DefaultPartitions: 3, AutoCreateTopics: true, Fsync: "interval", FsyncInterval: 2 * time.Second})
	createTopic(t, b, "named", 1, map[string]*string{"segment.ms": ptr("1000")})
	broker1 := newClient(t, b).Broker(1)
	resource := func(typ kmsg.ConfigResourceType, name string, configs ...string) kmsg.DescribeConfigsRequestResource {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, configs
		return rr
	}
	tests := []struct {
		name     string
		resource kmsg.DescribeConfigsRequestResource
		want     error
		values   map[string]string // exactly the configs answered
	}{
		{
			name:     "named topic configs, unknown names left out",
			resource: resource(kmsg.ConfigResourceTypeTopic, "named", "segment.ms", "no.such.config", "retention.ms"),
			values:   map[string]string{"segment.ms": "1000", "retention.ms": "604800000"},
		},
		{
			name:     "invalid topic name",
			resource: resource(kmsg.ConfigResourceTypeTopic, "no/such"),
			want:     kerr.InvalidTopicException,
		},
		{
			name:     "this broker",
			resource: resource(kmsg.ConfigResourceTypeBroker, "1", "num.partitions", "auto.create.topics.enable", "log.flush.interval.messages", "log.flush.interval.ms", "broker.id"),
			values: map[string]string{"num.partitions": "3", "auto.create.topics.enable": "true", "log.flush.interval.messages": "9223372036854775807",
				"log.flush.interval.ms": "2000", "broker.id": "1"},
		},
		{
			name:     "cluster-wide broker defaults: none are dynamic",
			resource: resource(kmsg.ConfigResourceTypeBroker, ""),
			values:   map[string]string{},
		},
		{
			name:     "another broker",
			resource: resource(kmsg.ConfigResourceTypeBroker, "2"),
			want:     kerr.InvalidRequest,
		},
		{
			name:     "not a broker id",
			resource: resource(kmsg.ConfigResourceTypeBroker, "one"),
			want:     kerr.InvalidRequest,
		},
		{
			name:     "broker logger",
			resource: resource(kmsg.ConfigResourceTypeBrokerLogger, "1"),
			want:     kerr.InvalidRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrDescribeConfigsRequest()
			req.IncludeDocumentation = true
			req.Resources = []kmsg.DescribeConfigsRequestResource{tt.resource}
			kresp, err := broker1.Request(testCtx(t, 10*time.Second), req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp := kresp.(*kmsg.DescribeConfigsResponse)
			sr := resp.Resources[0]
			if err := kerr.ErrorForCode(sr.ErrorCode); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				if sr.ErrorMessage == nil || len(sr.Configs) != 0 {
					t.Fatalf("error answer with message %v and %d configs", sr.ErrorMessage, len(sr.Configs))
				}
				return
			}
			got := map[string]string{}
			for _, c := range sr.Configs {
				got[c.Name] = *c.Value
				if c.Documentation == nil || *c.Documentation == "" || c.ConfigType == kmsg.ConfigTypeUnknown {
					t.Errorf("%s: documentation %v, type %v", c.Name, c.Documentation, c.ConfigType)
				}
				if tt.resource.ResourceType == kmsg.ConfigResourceTypeBroker && !c.ReadOnly {
					t.Errorf("broker config %s is not read-only", c.Name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.values) {
				t.Fatalf("configs %v, want %v", got, tt.values)
			}
		})
	}
}

func TestAdminDescribeBrokerConfigs(t *testing.T) {
	b := startBroker(t, Config{})
	rcs, err := adminClient(t, b).DescribeBrokerConfigs(testCtx(t, 10*time.Second), 1)
	if err != nil {
		t.Fatalf("describe broker configs: %v", err)
	}
	rc, err := rcs.On("1", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe broker 1: %v %v", err, rc.Err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		got[c.Key] = c.MaybeValue()
	}
	want := map[string]string{
		"num.partitions":              "1",
		"auto.create.topics.enable":   "false",
		"log.flush.interval.messages": "1",
		"default.replication.factor":  "1",
		"advertised.listeners":        "PLAINTEXT://" + b.Addr(),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// configStep is one alteration of a topic's configs and the effective values after it.
type configStep struct {
	name     string
	alter    []kadm.AlterConfig
	validate bool
	want     error
	after    map[string]string // effective values; "" for "the default"
}

func TestAdminIncrementalAlterConfigs(t *testing.T) {
	b := startBroker(t, Config{})
	adm := adminClient(t, b)
	createTopic(t, b, "altered", 1, nil)
	set := func(k, v string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: ptr(v)}
	}
	steps := []configStep{
		{name: "set", alter: []kadm.AlterConfig{set("retention.ms", "5000"), set("segment.bytes", "1048576")},
			after: map[string]string{"retention.ms": "5000", "segment.bytes": "1048576"}},
		{name: "append to the default", alter: []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")}},
			after: map[string]string{"cleanup.policy": "delete,compact"}},
		{name: "append an item already there", alter: []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("delete")}},
			after: map[string]string{"cleanup.policy": "delete,compact"}},
		{name: "subtract", alter: []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: ptr("delete")}},
			after: map[string]string{"cleanup.policy": "compact"}},
		{name: "delete", alter: []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}},
			after: map[string]string{"retention.ms": "", "segment.bytes": "1048576"}},
		{name: "invalid value refused, nothing applied", alter: []kadm.AlterConfig{set("segment.bytes", "2048"), set("retention.ms", "forever")},
			want: kerr.InvalidConfig, after: map[string]string{"retention.ms": "", "segment.bytes": "1048576"}},
		{name: "unknown config refused", alter: []kadm.AlterConfig{set("retention.minutes", "5")},
			want: kerr.InvalidConfig, after: map[string]string{"retention.ms": ""}},
		{name: "append to a non-list refused", alter: []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: ptr("5")}},
			want: kerr.InvalidConfig, after: map[string]string{"retention.ms": ""}},
		{name: "append of a value not allowed", alter: []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("shred")}},
			want: kerr.InvalidConfig, after: map[string]string{"cleanup.policy": "compact"}},
		{name: "validate only", alter: []kadm.AlterConfig{set("retention.ms", "7000")}, validate: true,
			after: map[string]string{"retention.ms": ""}},
		{name: "validate only still checks", alter: []kadm.AlterConfig{set("retention.ms", "x")}, validate: true,
			want: kerr.InvalidConfig, after: map[string]string{"retention.ms": ""}},
	}
	runConfigSteps(t, adm, "altered", steps, func(c []kadm.AlterConfig, validate bool) (kadm.AlterConfigsResponses, error) {
		if validate {
			return adm.ValidateAlterTopicConfigs(testCtx(t, 10*time.Second), c, "altered")
		}
		return adm.AlterTopicConfigs(testCtx(t, 10*time.Second), c, "altered")
	})

	// The storage settings follow the overrides.
	if got := b.topics.get("altered").settings.Load().storage.SegmentBytes; got != 1048576 {
		t.Fatalf("the log's segment size is %d, want 1048576", got)
	}

	resps, err := adm.AlterTopicConfigs(testCtx(t, 10*time.Second), []kadm.AlterConfig{set("retention.ms", "1")}, "absent")
	if err != nil {
		t.Fatalf("alter: %v", err)
	}
	if r, _ := resps.On("absent", nil); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("alter an unknown topic: %v", r.Err)
	}
	resps, err = adm.AlterBrokerConfigs(testCtx(t, 10*time.Second), []kadm.AlterConfig{set("num.partitions", "3")}, 1)
	if err != nil {
		t.Fatalf("alter broker: %v", err)
	}
	if r, _ := resps.On("1", nil); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("alter a broker config: %v, want INVALID_CONFIG", r.Err)
	}
}

func TestAdminAlterConfigsReplacesAll(t *testing.T) {
	b := startBroker(t, Config{})
	adm := adminClient(t, b)
	createTopic(t, b, "replaced", 1, map[string]*string{"retention.ms": ptr("5000")})
	set := func(k, v string) kadm.AlterConfig { return kadm.AlterConfig{Name: k, Value: ptr(v)} }
	steps := []configStep{
		{name: "replace", alter: []kadm.AlterConfig{set("segment.ms", "1000"), set("cleanup.policy", "compact")},
			after: map[string]string{"retention.ms": "", "segment.ms": "1000", "cleanup.policy": "compact"}},
		{name: "invalid value refused", alter: []kadm.AlterConfig{set("segment.ms", "0")},
			want: kerr.InvalidConfig, after: map[string]string{"segment.ms": "1000", "cleanup.policy": "compact"}},
		{name: "validate only", alter: []kadm.AlterConfig{set("retention.bytes", "100")}, validate: true,
			after: map[string]string{"retention.bytes": "", "segment.ms": "1000"}},
		{name: "empty set clears", alter: nil,
			after: map[string]string{"segment.ms": "", "cleanup.policy": ""}},
	}
	runConfigSteps(t, adm, "replaced", steps, func(c []kadm.AlterConfig, validate bool) (kadm.AlterConfigsResponses, error) {
		if validate {
			return adm.ValidateAlterTopicConfigsState(testCtx(t, 10*time.Second), c, "replaced")
		}
		return adm.AlterTopicConfigsState(testCtx(t, 10*time.Second), c, "replaced")
	})
}

// runConfigSteps applies steps to topic in order, checking each one's outcome.
func runConfigSteps(t *testing.T, adm *kadm.Client, topic string, steps []configStep,
	alter func([]kadm.AlterConfig, bool) (kadm.AlterConfigsResponses, error)) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			resps, err := alter(st.alter, st.validate)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			r, err := resps.On(topic, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if !errors.Is(r.Err, st.want) {
				t.Fatalf("err %v (%s), want %v", r.Err, r.ErrMessage, st.want)
			}
			got := topicConfigs(t, adm, topic)
			for k, want := range st.after {
				c := got[k]
				if want == "" {
					d, _ := lookupConfig(k)
					if c.Source != kmsg.ConfigSourceDefaultConfig || c.MaybeValue() != d.def {
						t.Errorf("%s = %q from %v, want the default %q", k, c.MaybeValue(), c.Source, d.def)
					}
					continue
				}
				if c.Source != kmsg.ConfigSourceDynamicTopicConfig || c.MaybeValue() != want {
					t.Errorf("%s = %q from %v, want override %q", k, c.MaybeValue(), c.Source, want)
				}
			}
		})
	}
}

// TestAdminTopicsSurviveRestart changes topics every way the admin APIs can, restarts the
// broker on the same directory and checks that all of it is still there.
func TestAdminTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	adm := adminClient(t, b)
	createTopic(t, b, "kept", 2, map[string]*string{"retention.ms": ptr("60000")})
	createTopic(t, b, "deleted", 1, nil)
	produceValues(t, b, "kept", "v0", "v1", "v2", "v3")
	ctx := testCtx(t, 20*time.Second)
	if r, err := adm.UpdatePartitions(ctx, 3, "kept"); err != nil || r.Error() != nil {
		t.Fatalf("add partitions: %v %v", err, r.Error())
	}
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: ptr("compact,delete")}, {Op: kadm.DeleteConfig, Name: "retention.ms"}}
	r, err := adm.AlterTopicConfigs(ctx, alter, "kept")
	if err == nil {
		_, err = r.On("kept", func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	if r, err := adm.DeleteRecords(ctx, deleteBefore("kept", 0, 2)); err != nil || r.Error() != nil {
		t.Fatalf("delete records: %v %v", err, r.Error())
	}
	if r, err := adm.DeleteTopics(ctx, "deleted"); err != nil || r.Error() != nil {
		t.Fatalf("delete topic: %v %v", err, r.Error())
	}
	id := b.topics.get("kept").id
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	b = startBroker(t, Config{DataDir: dir})
	adm = adminClient(t, b)
	if n := partitionCount(t, b, "kept"); n != 3 {
		t.Fatalf("after restart: kept has %d partitions, want 3", n)
	}
	if n := partitionCount(t, b, "deleted"); n != -1 {
		t.Fatalf("after restart: the deleted topic has %d partitions", n)
	}
	if got := b.topics.get("kept").id; got != id {
		t.Fatalf("after restart: topic ID %x, want %x", got, id)
	}
	cfgs := topicConfigs(t, adm, "kept")
	if c := cfgs["cleanup.policy"]; c.MaybeValue() != "compact,delete" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after restart: cleanup.policy %q from %v", c.MaybeValue(), c.Source)
	}
	if c := cfgs["retention.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after restart: retention.ms %q from %v, want the default", c.MaybeValue(), c.Source)
	}
	starts, err := adm.ListStartOffsets(testCtx(t, 10*time.Second), "kept")
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	if o, _ := starts.Lookup("kept", 0); o.Offset != 2 {
		t.Fatalf("after restart: partition 0 starts at %d (%v), want 2", o.Offset, o.Err)
	}
}

func TestAdminDeleteRecords(t *testing.T) {
	b := startBroker(t, Config{})
	adm := adminClient(t, b)
	createTopic(t, b, "trimmed", 2, nil)
	createTopic(t, b, "compacted", 1, map[string]*string{"cleanup.policy": ptr("compact")})
	values := make([]string, 10)
	for i := range values {
		values[i] = "r" + strconv.Itoa(i)
	}
	produceValues(t, b, "trimmed", values...)
	produceValues(t, b, "compacted", "k")

	tests := []struct {
		name    string
		topic   string
		part    int32
		offset  int64
		want    error
		wantLow int64
	}{
		{"move the start", "trimmed", 0, 4, nil, 4},
		{"below the start changes nothing", "trimmed", 0, 2, nil, 4},
		{"beyond the high watermark", "trimmed", 0, 11, kerr.OffsetOutOfRange, -1},
		{"negative", "trimmed", 0, -5, kerr.OffsetOutOfRange, -1},
		{"empty partition to its high watermark", "trimmed", 1, -1, nil, 0},
		{"compacted topic", "compacted", 0, 1, kerr.PolicyViolation, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resps, err := adm.DeleteRecords(testCtx(t, 10*time.Second), deleteBefore(tt.topic, tt.part, tt.offset))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			r, ok := resps.Lookup(tt.topic, tt.part)
			if !ok || !errors.Is(r.Err, tt.want) {
				t.Fatalf("answer %+v, want err %v", r, tt.want)
			}
			if tt.want == nil && r.LowWatermark != tt.wantLow {
				t.Fatalf("low watermark %d, want %d", r.LowWatermark, tt.wantLow)
			}
		})
	}

	starts, err := adm.ListStartOffsets(testCtx(t, 10*time.Second), "trimmed")
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	if o, _ := starts.Lookup("trimmed", 0); o.Offset != 4 {
		t.Fatalf("partition 0 starts at %d (%v), want 4", o.Offset, o.Err)
	}
	// A consumer from the earliest offset now starts at the new low watermark.
	cl := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"trimmed": {0: kgo.NewOffset().AtStart()}}))
	ctx := testCtx(t, 10*time.Second)
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	recs := fs.Records()
	if len(recs) == 0 || recs[0].Offset != 4 || string(recs[0].Value) != "r4" {
		t.Fatalf("first record consumed: %v, want offset 4 (r4)", recs)
	}

	// kadm cannot route a partition the metadata lacks, so this one goes to the broker.
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "trimmed"
	for _, p := range []int32{7, -1} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	absent := rt
	absent.Topic = "absent"
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Topics = []kmsg.DeleteRecordsRequestTopic{rt, absent}
	kresp, err := newClient(t, b).Broker(1).Request(testCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for _, st := range kresp.(*kmsg.DeleteRecordsResponse).Topics {
		for _, sp := range st.Partitions {
			if sp.ErrorCode != kerr.UnknownTopicOrPartition.Code || sp.LowWatermark != -1 {
				t.Errorf("%s[%d]: error %d, low watermark %d; want UNKNOWN_TOPIC_OR_PARTITION", st.Topic, sp.Partition, sp.ErrorCode, sp.LowWatermark)
			}
		}
	}

	// Everything up to the high watermark.
	resps, err := adm.DeleteRecords(testCtx(t, 10*time.Second), deleteBefore("trimmed", 0, -1))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if r, _ := resps.Lookup("trimmed", 0); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("delete to the high watermark: %+v, want low watermark 10", r)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	b := startBroker(t, Config{NodeID: 5})
	host, portStr, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portStr)
	meta, err := adminClient(t, b).BrokerMetadata(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for v := int16(0); v <= 1; v++ {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			cl := versionClient(t, b, kmsg.DescribeCluster, v)
			req := kmsg.NewPtrDescribeClusterRequest()
			req.IncludeClusterAuthorizedOperations = true
			resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if resp.Version != v || resp.ErrorCode != 0 {
				t.Fatalf("v%d answer, error %d", resp.Version, resp.ErrorCode)
			}
			if resp.ClusterID != meta.Cluster || resp.ClusterID == "" {
				t.Errorf("cluster ID %q, metadata says %q", resp.ClusterID, meta.Cluster)
			}
			if resp.ControllerID != 5 {
				t.Errorf("controller %d, want 5", resp.ControllerID)
			}
			if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 5 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != int32(port) {
				t.Errorf("brokers %+v, want node 5 at %s", resp.Brokers, b.Addr())
			}
			if resp.ClusterAuthorizedOperations&(1<<kmsg.ACLOperationDescribe) == 0 {
				t.Errorf("authorized operations %b lack DESCRIBE", resp.ClusterAuthorizedOperations)
			}
		})
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), newClient(t, b))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.UnsupportedEndpointType) {
		t.Fatalf("controller endpoints: %v, want UNSUPPORTED_ENDPOINT_TYPE", err)
	}
}

// TestAdminVersions runs every version of every admin API this broker serves, so that
// each answer is encoded at the version asked and carries what that version has.
func TestAdminVersions(t *testing.T) {
	b := startBroker(t, Config{})
	ctx := testCtx(t, 60*time.Second)
	check := func(t *testing.T, v int16, resp kmsg.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if resp.GetVersion() != v {
			t.Fatalf("answered v%d", resp.GetVersion())
		}
	}
	forVersions := func(key kmsg.Key, fn func(t *testing.T, v int16, cl *kgo.Client)) {
		a := apis[key.Int16()]
		for v := a.min; v <= a.max; v++ {
			t.Run(fmt.Sprintf("%s/v%d", key.Name(), v), func(t *testing.T) { fn(t, v, versionClient(t, b, key, v)) })
		}
	}

	forVersions(kmsg.CreateTopics, func(t *testing.T, v int16, cl *kgo.Client) {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("ct-v%d", v), 2, 1
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = "retention.ms", ptr("1000")
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{c}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		st := resp.Topics[0]
		if st.ErrorCode != 0 {
			t.Fatalf("error %d", st.ErrorCode)
		}
		if v >= 5 && (st.NumPartitions != 2 || st.ReplicationFactor != 1 || len(st.Configs) != len(topicConfigDefs)) {
			t.Fatalf("answered %d partitions, replication %d, %d configs", st.NumPartitions, st.ReplicationFactor, len(st.Configs))
		}
		if v >= 7 && st.TopicID != b.topics.get(rt.Topic).id {
			t.Fatalf("answered ID %x", st.TopicID)
		}
		resp, err = req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if st := resp.Topics[0]; st.ErrorCode != kerr.TopicAlreadyExists.Code || (v >= 1 && st.ErrorMessage == nil) {
			t.Fatalf("created again: error %d, message %v", st.ErrorCode, st.ErrorMessage)
		}
	})

	forVersions(kmsg.DescribeConfigs, func(t *testing.T, v int16, cl *kgo.Client) {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "ct-v7", []string{"retention.ms", "segment.ms"}
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources, req.IncludeSynonyms, req.IncludeDocumentation = []kmsg.DescribeConfigsRequestResource{rr}, true, true
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		cs := resp.Resources[0].Configs
		if len(cs) != 2 || cs[0].Name != "retention.ms" || *cs[0].Value != "1000" || cs[1].Name != "segment.ms" {
			t.Fatalf("configs %+v", cs)
		}
		switch {
		case v == 0:
			if cs[0].IsDefault || !cs[1].IsDefault {
				t.Fatalf("IsDefault: override %v, default %v", cs[0].IsDefault, cs[1].IsDefault)
			}
		case cs[0].Source != kmsg.ConfigSourceDynamicTopicConfig || cs[1].Source != kmsg.ConfigSourceDefaultConfig || len(cs[0].ConfigSynonyms) != 2:
			t.Fatalf("sources %v %v, synonyms %d", cs[0].Source, cs[1].Source, len(cs[0].ConfigSynonyms))
		}
		if v >= 3 && (cs[0].ConfigType != kmsg.ConfigTypeLong || cs[0].Documentation == nil) {
			t.Fatalf("type %v, documentation %v", cs[0].ConfigType, cs[0].Documentation)
		}
	})

	forVersions(kmsg.AlterConfigs, func(t *testing.T, v int16, cl *kgo.Client) {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "segment.ms", ptr(strconv.Itoa(1000+int(v)))
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.Configs = kmsg.ConfigResourceTypeTopic, "ct-v0", []kmsg.AlterConfigsRequestResourceConfig{c}
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Resources = []kmsg.AlterConfigsRequestResource{rr, rr}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("a resource named twice: %+v", resp.Resources)
		}
		req.Resources = req.Resources[:1]
		resp, err = req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if resp.Resources[0].ErrorCode != 0 || b.topics.get("ct-v0").configs()["segment.ms"] != *c.Value {
			t.Fatalf("error %d, overrides %v", resp.Resources[0].ErrorCode, b.topics.get("ct-v0").configs())
		}
	})

	forVersions(kmsg.IncrementalAlterConfigs, func(t *testing.T, v int16, cl *kgo.Client) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = "retention.bytes", kmsg.IncrementalAlterConfigOpSet, ptr(strconv.Itoa(1000+int(v)))
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "ct-v1"
		rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c, c}
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("a config named twice: error %d", resp.Resources[0].ErrorCode)
		}
		req.Resources[0].Configs = req.Resources[0].Configs[:1]
		resp, err = req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if resp.Resources[0].ErrorCode != 0 || b.topics.get("ct-v1").configs()["retention.bytes"] != *c.Value {
			t.Fatalf("error %d, overrides %v", resp.Resources[0].ErrorCode, b.topics.get("ct-v1").configs())
		}
	})

	forVersions(kmsg.CreatePartitions, func(t *testing.T, v int16, cl *kgo.Client) {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = fmt.Sprintf("ct-v%d", v), 3
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if resp.Topics[0].ErrorCode != 0 || len(b.topics.get(rt.Topic).parts()) != 3 {
			t.Fatalf("error %d", resp.Topics[0].ErrorCode)
		}
	})

	produceValues(t, b, "ct-v0", "a", "b", "c", "d")
	forVersions(kmsg.DeleteRecords, func(t *testing.T, v int16, cl *kgo.Client) {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, int64(v)+1
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic, rt.Partitions = "ct-v0", []kmsg.DeleteRecordsRequestTopicPartition{rp}
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.LowWatermark != rp.Offset {
			t.Fatalf("error %d, low watermark %d, want %d", sp.ErrorCode, sp.LowWatermark, rp.Offset)
		}
	})

	forVersions(kmsg.DeleteTopics, func(t *testing.T, v int16, cl *kgo.Client) {
		name := fmt.Sprintf("ct-v%d", v)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{name}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = ptr(name)
		req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
		resp, err := req.RequestWith(ctx, cl)
		check(t, v, resp, err)
		if st := resp.Topics[0]; st.ErrorCode != 0 || st.Topic == nil || *st.Topic != name {
			t.Fatalf("answer %+v", st)
		}
		if b.topics.get(name) != nil {
			t.Fatal("not deleted")
		}
	})
}
