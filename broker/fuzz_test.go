package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzTopic exists in the fuzzed broker so that data-path requests reach the logs.
const fuzzTopic = "fuzz"

// FuzzHandleRequest feeds arbitrary request frames (everything after the size prefix) to
// the broker: whatever the bytes, handling must not panic, and a response must be one the
// client can decode, for the API and version it asked for.
func FuzzHandleRequest(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	b, err := New(Config{
		DataDir:                    f.TempDir(),
		Listen:                     "127.0.0.1:0",
		Fsync:                      "os", // durability is not under test; speed is
		GroupInitialRebalanceDelay: -1,
		Logger:                     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		f.Fatalf("Start: %v", err)
	}
	f.Cleanup(func() { b.Close() })
	create := kmsg.NewPtrCreateTopicsRequest()
	create.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: fuzzTopic, NumPartitions: 2, ReplicationFactor: 1}}
	if _, err := handleFuzzFrame(b, requestFrame(create, 4), 10*time.Second); err != nil {
		f.Fatalf("create topic %s: %v", fuzzTopic, err)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		if asksForManyPartitions(body) {
			// The broker, like Kafka, has no partition limit, so a mutated count would
			// only measure the disk.
			t.Skip()
		}
		var (
			rep  reply
			err  error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			rep, err = handleFuzzFrame(b, body, 20*time.Millisecond)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			stacks := make([]byte, 256<<10)
			stacks = stacks[:runtime.Stack(stacks, true)]
			t.Fatalf("handling did not return 5s after its context ended; goroutines:\n%s", stacks)
		}
		if err != nil {
			// Bad input closes the connection and a handler may be cut short by its
			// context; anything else is a failure bad input should not cause.
			if !errors.Is(err, errCloseConn) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("handleFrame: %v", err)
			}
			return
		}
		if rep.noReply {
			return
		}
		checkFuzzResponse(t, body, rep)
	})
}

// handleFuzzFrame handles one frame as a connection would, the writer's part included,
// within d. The fuzz keeps d short, as the long polls and group waits that bad input can
// ask for would otherwise slow it, the minimizing of new inputs most.
func handleFuzzFrame(b *Broker, body []byte, d time.Duration) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	rep, err := b.handleFrame(ctx, "", body)
	if err != nil {
		return rep, err
	}
	if rep.wait != nil {
		rep.wait(ctx)
	}
	return rep, nil
}

// checkFuzzResponse encodes rep as the connection would and decodes it back as a client
// that sent body would.
func checkFuzzResponse(t *testing.T, body []byte, rep reply) {
	t.Helper()
	if rep.resp == nil {
		t.Fatalf("reply without a response and not marked noReply")
	}
	key := int16(binary.BigEndian.Uint16(body))
	version := int16(binary.BigEndian.Uint16(body[2:]))
	corr := int32(binary.BigEndian.Uint32(body[4:]))
	if rep.resp.Key() != key {
		t.Fatalf("request key %d answered with key %d", key, rep.resp.Key())
	}
	// KIP-511: an ApiVersions version the broker does not know is answered with v0.
	if got := rep.resp.GetVersion(); got != version && (key != kmsg.ApiVersions.Int16() || got != 0) {
		t.Fatalf("%s v%d answered with v%d", kmsg.NameForKey(key), version, got)
	}
	frame := encodeResponse(nil, rep.corr, rep.resp)
	if size := int(binary.BigEndian.Uint32(frame)); size != len(frame)-4 {
		t.Fatalf("response size prefix %d, frame has %d bytes", size, len(frame)-4)
	}
	rd := kbin.Reader{Src: frame[4:]}
	if got := rd.Int32(); got != corr {
		t.Fatalf("correlation ID %d answered as %d", corr, got)
	}
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(rep.resp.GetVersion())
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(key), resp.GetVersion(), err)
	}
}

// asksForManyPartitions reports whether body is a request that would create more than a
// few partitions.
func asksForManyPartitions(body []byte) bool {
	rd := kbin.Reader{Src: body}
	key, version := rd.Int16(), rd.Int16()
	rd.Int32()
	rd.NullableString()
	req := kmsg.RequestForKey(key)
	if !rd.Ok() || req == nil || version < 0 || version > req.MaxVersion() {
		return false
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if req.ReadFrom(rd.Src) != nil {
		return false
	}
	var n int64
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			n += max(int64(t.NumPartitions), int64(len(t.ReplicaAssignment)), 1)
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			n += max(int64(t.Count), int64(len(t.Assignment)))
		}
	}
	return n > 64
}

// requestFrame encodes req at version the way a client frames it, minus the size prefix.
func requestFrame(req kmsg.Request, version int16) []byte {
	req.SetVersion(version)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, 7)[4:]
}

// fuzzSeeds returns valid requests of most served APIs, each at the lowest, a middle and
// the highest version the broker serves, plus a few that must be refused.
func fuzzSeeds() [][]byte {
	topic := fuzzTopic
	str := func(s string) *string { return &s }

	metadata := kmsg.NewPtrMetadataRequest()
	metadata.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}

	createTopics := kmsg.NewPtrCreateTopicsRequest()
	createTopics.Topics = []kmsg.CreateTopicsRequestTopic{{
		Topic: "fuzz-new", NumPartitions: 1, ReplicationFactor: 1,
		Configs: []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: str("60000")}},
	}}

	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	produce.TimeoutMillis = 1000
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: encodeTestBatch(0, "fuzz-value")},
	}}}
	produceNoAck := kmsg.NewPtrProduceRequest()
	produceNoAck.Acks = 0
	produceNoAck.Topics = produce.Topics

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis = 50
	fetch.MaxBytes = 1 << 20
	fetch.Topics = []kmsg.FetchRequestTopic{{Topic: topic, Partitions: []kmsg.FetchRequestTopicPartition{
		{Partition: 0, FetchOffset: 0, PartitionMaxBytes: 1 << 20},
		{Partition: 1, FetchOffset: 5, PartitionMaxBytes: 1 << 20},
	}}}

	listOffsets := kmsg.NewPtrListOffsetsRequest()
	listOffsets.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{
		{Partition: 0, Timestamp: -1, MaxNumOffsets: 1}, {Partition: 1, Timestamp: -2, MaxNumOffsets: 1},
	}}}

	apiVersions := kmsg.NewPtrApiVersionsRequest()
	apiVersions.ClientSoftwareName = "fuzz"
	apiVersions.ClientSoftwareVersion = "1.0"

	deleteTopics := kmsg.NewPtrDeleteTopicsRequest()
	deleteTopics.TopicNames = []string{"fuzz-gone"}
	deleteTopics.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: str("fuzz-gone")}}

	deleteRecords := kmsg.NewPtrDeleteRecordsRequest()
	deleteRecords.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: topic, Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 1, Offset: 0}}}}

	initPID := kmsg.NewPtrInitProducerIDRequest()

	describeConfigs := kmsg.NewPtrDescribeConfigsRequest()
	describeConfigs.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"},
	}

	alterConfigs := kmsg.NewPtrAlterConfigsRequest()
	alterConfigs.Resources = []kmsg.AlterConfigsRequestResource{{
		ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic,
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.bytes", Value: str("1048576")}},
	}}

	incAlterConfigs := kmsg.NewPtrIncrementalAlterConfigsRequest()
	incAlterConfigs.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{
		ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic,
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpSet, Value: str("delete")}},
	}}

	createPartitions := kmsg.NewPtrCreatePartitionsRequest()
	createPartitions.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: topic, Count: 3}}

	describeCluster := kmsg.NewPtrDescribeClusterRequest()

	findCoordinator := kmsg.NewPtrFindCoordinatorRequest()
	findCoordinator.CoordinatorKey = "fuzz-group"
	findCoordinator.CoordinatorKeys = []string{"fuzz-group"}

	joinGroup := kmsg.NewPtrJoinGroupRequest()
	joinGroup.Group = "fuzz-group"
	joinGroup.SessionTimeoutMillis = 10000
	joinGroup.RebalanceTimeoutMillis = 10000
	joinGroup.ProtocolType = "consumer"
	joinGroup.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 4, 'f', 'u', 'z', 'z', 0, 0, 0, 0}}}

	syncGroup := kmsg.NewPtrSyncGroupRequest()
	syncGroup.Group = "fuzz-group"
	syncGroup.MemberID = "member"

	heartbeat := kmsg.NewPtrHeartbeatRequest()
	heartbeat.Group = "fuzz-group"
	heartbeat.MemberID = "member"

	leaveGroup := kmsg.NewPtrLeaveGroupRequest()
	leaveGroup.Group = "fuzz-group"
	leaveGroup.MemberID = "member"
	leaveGroup.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "member"}}

	offsetCommit := kmsg.NewPtrOffsetCommitRequest()
	offsetCommit.Group = "fuzz-group"
	offsetCommit.Generation = -1
	offsetCommit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Metadata: str("m")}}}}

	offsetFetch := kmsg.NewPtrOffsetFetchRequest()
	offsetFetch.Group = "fuzz-group"
	offsetFetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0, 1}}}
	offsetFetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "fuzz-group"}}

	describeGroups := kmsg.NewPtrDescribeGroupsRequest()
	describeGroups.Groups = []string{"fuzz-group", "none"}

	listGroups := kmsg.NewPtrListGroupsRequest()

	deleteGroups := kmsg.NewPtrDeleteGroupsRequest()
	deleteGroups.Groups = []string{"fuzz-other"}

	offsetDelete := kmsg.NewPtrOffsetDeleteRequest()
	offsetDelete.Group = "fuzz-group"
	offsetDelete.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}

	txnID := "fuzz-txn"
	initTxnPID := kmsg.NewPtrInitProducerIDRequest()
	initTxnPID.TransactionalID = &txnID
	initTxnPID.TransactionTimeoutMillis = 60000

	addPartitions := kmsg.NewPtrAddPartitionsToTxnRequest()
	addPartitions.TransactionalID = txnID
	addPartitions.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0, 1}}}
	addPartitions.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: txnID,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: []int32{0}}}}}

	addOffsets := kmsg.NewPtrAddOffsetsToTxnRequest()
	addOffsets.TransactionalID = txnID
	addOffsets.Group = "fuzz-group"

	txnOffsetCommit := kmsg.NewPtrTxnOffsetCommitRequest()
	txnOffsetCommit.TransactionalID = txnID
	txnOffsetCommit.Group = "fuzz-group"
	txnOffsetCommit.Generation = -1
	txnOffsetCommit.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}

	endTxn := kmsg.NewPtrEndTxnRequest()
	endTxn.TransactionalID = txnID
	endTxn.Commit = true

	txnProduce := kmsg.NewPtrProduceRequest()
	txnProduce.TransactionID = &txnID
	txnProduce.Acks = -1
	txnProduce.TimeoutMillis = 1000
	txnProduce.Topics = produce.Topics

	fetchCommitted := kmsg.NewPtrFetchRequest()
	*fetchCommitted = *fetch
	fetchCommitted.IsolationLevel = 1

	listCommitted := kmsg.NewPtrListOffsetsRequest()
	*listCommitted = *listOffsets
	listCommitted.IsolationLevel = 1

	describeProducers := kmsg.NewPtrDescribeProducersRequest()
	describeProducers.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: topic, Partitions: []int32{0, 7}}}

	describeTxns := kmsg.NewPtrDescribeTransactionsRequest()
	describeTxns.TransactionalIDs = []string{txnID, "none"}

	listTxns := kmsg.NewPtrListTransactionsRequest()
	listTxns.StateFilters = []string{"Ongoing"}
	listTxns.TransactionalIDPattern = str("^fuzz")

	var seeds [][]byte
	for _, req := range []kmsg.Request{
		metadata, createTopics, produce, produceNoAck, fetch, listOffsets, apiVersions, deleteTopics,
		deleteRecords, initPID, describeConfigs, alterConfigs, incAlterConfigs, createPartitions,
		describeCluster, findCoordinator, joinGroup, syncGroup, heartbeat, leaveGroup, offsetCommit,
		offsetFetch, describeGroups, listGroups, deleteGroups, offsetDelete,
		initTxnPID, addPartitions, addOffsets, txnOffsetCommit, endTxn, txnProduce, fetchCommitted,
		listCommitted, describeProducers, describeTxns, listTxns,
	} {
		a, ok := apis[req.Key()]
		if !ok {
			continue
		}
		for _, v := range []int16{a.min, (a.min + a.max) / 2, a.max} {
			if v <= req.MaxVersion() {
				seeds = append(seeds, requestFrame(req, v))
			}
		}
	}
	apiVersions.ClientSoftwareName = ""
	seeds = append(seeds,
		requestFrame(apiVersions, 9),                     // newer than served: a KIP-511 answer
		requestFrame(produce, 99),                        // unsupported version
		requestFrame(metadata, 1)[:9],                    // truncated header
		[]byte{0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}, // unknown key
	)
	return seeds
}

// TestMalformedInputClosesOnlyThatConnection sends the broker frames it cannot serve, each
// on its own connection: that connection is closed without an answer, and a client on
// another connection keeps working.
func TestMalformedInputClosesOnlyThatConnection(t *testing.T) {
	const maxRequest = 1 << 20
	b := startBroker(t, Config{MaxRequestBytes: maxRequest})
	createTopic(t, b, "malformed", 1, nil)
	good := newClient(t, b, kgo.DefaultProduceTopic("malformed"))
	produce := func(i int) {
		t.Helper()
		if err := good.ProduceSync(testCtx(t, 10*time.Second), &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce on the well-behaved connection: %v", err)
		}
	}
	produce(-1)

	sized := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("malformed")}}
	truncatedBody := requestFrame(metadata, 1)
	truncatedBody = truncatedBody[:len(truncatedBody)-3]

	cases := []struct {
		name  string
		bytes []byte
	}{
		{"size at the limit plus one", binary.BigEndian.AppendUint32(nil, maxRequest+1)},
		{"huge size", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4}},
		{"size below a header", []byte{0, 0, 0, 3, 1, 2, 3}},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: eddy\r\n\r\n")},
		{"unknown api key", sized([]byte{0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff})},
		{"unsupported version", sized(requestFrame(kmsg.NewPtrProduceRequest(), 99))},
		{"truncated header", sized([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0x00})},
		{"undecodable body", sized(truncatedBody)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer nc.Close()
			if _, err := nc.Write(tc.bytes); err != nil {
				t.Fatalf("write: %v", err)
			}
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := nc.Read(make([]byte, 64))
			switch {
			case n > 0:
				t.Errorf("the broker answered %d bytes instead of closing", n)
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("the connection is still open after 5s")
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET):
				t.Errorf("read: %v, want the connection closed", err)
			}
			produce(i)
		})
	}
}
