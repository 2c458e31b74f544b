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
// a storage package that knows nothing of the protocol and a group coordinator package.
//
// Durability: with the default fsync policy "always", a produce request is answered only
// after its batches are fsynced (appends waiting together share one fsync), so an
// acknowledged record survives kill -9 and power loss; consumers see only durable records.
// With "interval" up to Config.FsyncInterval of acknowledged records can be lost on power
// loss (not on a process crash, since the OS still holds them); with "os" the window is the
// kernel's write-back delay, typically up to about 30 seconds.
package broker
