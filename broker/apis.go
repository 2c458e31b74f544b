package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/group"
)

// apiHandler answers one decoded request. An error closes the connection; everything a
// client can be told goes in the response's error codes instead.
type apiHandler func(ctx context.Context, b *Broker, r *request) (reply, error)

// api is one served API key: the versions advertised in ApiVersions and its handler.
type api struct {
	min, max int16
	handle   apiHandler
}

// apis is every API the broker serves, keyed by API key; filled by init because the
// ApiVersions handler reads it.
var apis map[int16]api

func init() {
	apis = map[int16]api{
		// Produce is advertised from v0: librdkafka derives features from the advertised
		// ranges and stops compressing when v0 is missing.
		kmsg.Produce.Int16():                 {0, 10, handleProduce},
		kmsg.Fetch.Int16():                   {4, 12, handleFetch},
		kmsg.ListOffsets.Int16():             {0, 6, handleListOffsets},
		kmsg.Metadata.Int16():                {0, 12, handleMetadata},
		kmsg.ApiVersions.Int16():             {0, 3, handleApiVersions},
		kmsg.CreateTopics.Int16():            {0, 7, handleCreateTopics},
		kmsg.DeleteTopics.Int16():            {0, 6, handleDeleteTopics},
		kmsg.DeleteRecords.Int16():           {0, 2, handleDeleteRecords},
		kmsg.InitProducerID.Int16():          {0, 4, handleInitProducerID},
		kmsg.DescribeConfigs.Int16():         {0, 4, handleDescribeConfigs},
		kmsg.AlterConfigs.Int16():            {0, 2, handleAlterConfigs},
		kmsg.IncrementalAlterConfigs.Int16(): {0, 1, handleIncrementalAlterConfigs},
		kmsg.CreatePartitions.Int16():        {0, 3, handleCreatePartitions},
		kmsg.DescribeCluster.Int16():         {0, 1, handleDescribeCluster},
		kmsg.FindCoordinator.Int16():         {0, 4, handleFindCoordinator},
		kmsg.JoinGroup.Int16():               {0, 0, handleJoinGroup},
		kmsg.SyncGroup.Int16():               {0, 0, handleSyncGroup},
		kmsg.Heartbeat.Int16():               {0, 0, handleHeartbeat},
		kmsg.LeaveGroup.Int16():              {0, 0, handleLeaveGroup},
		kmsg.OffsetCommit.Int16():            {0, 0, handleOffsetCommit},
		kmsg.OffsetFetch.Int16():             {0, 0, handleOffsetFetch},
		kmsg.DescribeGroups.Int16():          {0, 0, handleDescribeGroups},
		kmsg.ListGroups.Int16():              {0, 0, handleListGroups},
		kmsg.DeleteGroups.Int16():            {0, 0, handleDeleteGroups},
		kmsg.OffsetDelete.Int16():            {0, 0, handleOffsetDelete},
		// Transactions (KIP-98, KIP-447). The versions KIP-890 part 2 adds (Produce v12,
		// AddPartitionsToTxn v4+, AddOffsetsToTxn v4, TxnOffsetCommit v4, EndTxn v5) are
		// not served: clients take them, with the transaction.version feature, as a
		// promise of server-side transaction verification.
		kmsg.AddPartitionsToTxn.Int16():   {0, 3, handleAddPartitionsToTxn},
		kmsg.AddOffsetsToTxn.Int16():      {0, 3, handleAddOffsetsToTxn},
		kmsg.EndTxn.Int16():               {0, 4, handleEndTxn},
		kmsg.TxnOffsetCommit.Int16():      {0, 0, handleTxnOffsetCommit},
		kmsg.DescribeProducers.Int16():    {0, 0, handleDescribeProducers},
		kmsg.DescribeTransactions.Int16(): {0, 0, handleDescribeTransactions},
		kmsg.ListTransactions.Int16():     {0, 2, handleListTransactions},
	}
	// The group coordinator says which versions of its APIs it implements.
	for key, max := range group.MaxVersions {
		a, ok := apis[key]
		if !ok {
			continue
		}
		a.max = max
		apis[key] = a
	}
}

// apiKeys lists the served APIs in key order, as ApiVersions answers them.
func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	slices.SortFunc(keys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return keys
}
