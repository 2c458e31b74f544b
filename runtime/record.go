package runtime

// Header is one record header. Kafka allows repeated keys, so headers are a list.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record flowing through a topology: a typed key and value with the
// record's timestamp (milliseconds since the epoch) and headers.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp int64
	Headers   []Header
}

// WithValue returns a copy of r carrying value v, keeping key, timestamp and headers.
func WithValue[K, V, V2 any](r Record[K, V], v V2) Record[K, V2] {
	return Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers}
}

// RecordMetadata says where the record being processed came from. Records created by a
// punctuator have none.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64
}

// TaskID names a task: a sub-topology and the partition it processes, written "1_3".
type TaskID struct {
	Subtopology int
	Partition   int32
}
