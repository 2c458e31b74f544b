// Package broker is eddy's bundled Kafka-protocol broker.
//
// It is a real, single-node broker: requests are decoded and responses encoded with
// franz-go's kmsg, record batches are stored on disk as the clients sent them (see
// broker/internal/storage), topics, configs and committed group offsets survive restarts,
// and independent clients (franz-go, sarama, segmentio/kafka-go, librdkafka through kcat,
// kafkajs) work against it unchanged.
//
// A Broker is embeddable: tests and examples start one in-process on 127.0.0.1:0 and point
// any Kafka client at Addr(). The `eddy broker` command runs one as a server.
//
// The layout follows the protocol: one file per API key (produce.go, fetch.go, ...), over
// a storage package that knows nothing of the protocol, a group coordinator package and a
// transaction coordinator package.
//
// Transactions follow KIP-98 and KIP-447: InitProducerId with a transactional ID fences
// the previous producer by epoch, the coordinator's state is logged durably before it
// acts, EndTxn writes COMMIT or ABORT markers into every partition of the transaction and
// completes its group offsets before answering, and read_committed fetches stop at the
// last stable offset and carry the aborted transactions. A transaction left open by a
// crash is aborted when the broker restarts; one past its timeout is aborted with an epoch
// bump. KIP-890 part 2 (transaction.version 2) is not implemented and not advertised.
//
// Topics with cleanup.policy=compact are compacted by a background cleaner every
// Config.CleanerInterval. Connections are bounded (Config.MaxConnections,
// MaxInFlightPerConn, MaxRequestBytes, ConnectionsMaxIdle); a client that stops reading
// its responses holds only its own connection, which is closed when it accepts no byte
// for a minute.
//
// Durability: with the default fsync policy "always", a produce request is answered only
// after its batches are fsynced (appends waiting together share one fsync), so an
// acknowledged record survives kill -9 and power loss; consumers see only durable records.
// With "interval" up to Config.FsyncInterval of acknowledged records can be lost on power
// loss (not on a process crash, since the OS still holds them); with "os" the window is the
// kernel's write-back delay, typically up to about 30 seconds.
package broker
