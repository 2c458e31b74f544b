package runtime

import (
	"errors"
	"fmt"

	"github.com/eddy-io/eddy/serde"
)

// builtNode is one node instance in one task, with its types erased.
type builtNode interface {
	nodeName() string
	connect(children []builtNode) error
}

// initCloser is a node that runs user code at the start and end of a task.
type initCloser interface {
	init() error
	close() error
}

// sourceNode decodes raw records into Record[K, V] for its children.
type sourceNode[K, V any] struct {
	procContext[K, V]
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// rawSource is a source with its types erased, as the task's queues see it.
type rawSource interface {
	builtNode
	// decodeAndForward decodes rec; a decode failure is reported apart from a
	// processing failure, since each goes to its own handler.
	decodeAndForward(rec *ConsumedRecord, ts int64) (decodeErr, procErr error)
}

func (s *sourceNode[K, V]) decodeAndForward(rec *ConsumedRecord, ts int64) (error, error) {
	k, err := decodeNullable(s.keys, rec.Key)
	if err != nil {
		return fmt.Errorf("%w: key: %w", ErrDeserialization, err), nil
	}
	v, err := decodeNullable(s.values, rec.Value)
	if err != nil {
		return fmt.Errorf("%w: value: %w", ErrDeserialization, err), nil
	}
	return nil, s.Forward(Record[K, V]{Key: k, Value: v, Timestamp: ts, Headers: rec.Headers})
}

// decodeNullable decodes b; null that the serde cannot represent becomes the zero
// value (see SourceConfig).
func decodeNullable[T any](s serde.Serde[T], b []byte) (T, error) {
	v, err := s.Decode(b)
	if err != nil && b == nil && errors.Is(err, serde.ErrNull) {
		var zero T
		return zero, nil
	}
	return v, err
}

// processorNode runs a user processor.
type processorNode[KIn, VIn, KOut, VOut any] struct {
	procContext[KOut, VOut]
	proc Processor[KIn, VIn, KOut, VOut]
}

func (n *processorNode[KIn, VIn, KOut, VOut]) receive(r Record[KIn, VIn]) error {
	if err := n.proc.Process(r); err != nil {
		return wrapNode(n.name, err)
	}
	return nil
}

func (n *processorNode[KIn, VIn, KOut, VOut]) init() error {
	return wrapNode(n.name, n.proc.Init(&n.procContext))
}

func (n *processorNode[KIn, VIn, KOut, VOut]) close() error {
	return wrapNode(n.name, n.proc.Close())
}

// sinkNode encodes records and hands them to the task's collector.
type sinkNode[K, V any] struct {
	name  string
	task  *Task
	cfg   SinkConfig[K, V]
	topic string // resolved fixed topic; empty with TopicFunc
}

func (s *sinkNode[K, V]) nodeName() string { return s.name }

func (s *sinkNode[K, V]) connect(children []builtNode) error {
	if len(children) > 0 {
		return invalid("sink %q has children", s.name)
	}
	return nil
}

func (s *sinkNode[K, V]) receive(r Record[K, V]) error {
	topic := s.topic
	if s.cfg.TopicFunc != nil {
		topic = s.task.top.resolveTopic(s.task.appID, s.cfg.TopicFunc(r))
		if topic == "" {
			return &nodeError{node: s.name, err: errors.New("topic extractor returned no topic")}
		}
	}
	kb, err := s.cfg.Keys.Encode(r.Key)
	if err != nil {
		return &nodeError{node: s.name, err: fmt.Errorf("encode key: %w", err)}
	}
	vb, err := s.cfg.Values.Encode(r.Value)
	if err != nil {
		return &nodeError{node: s.name, err: fmt.Errorf("encode value: %w", err)}
	}
	partition := int32(-1)
	if s.cfg.Partitioner != nil {
		n := s.task.partitionCount(topic)
		if n <= 0 {
			return &nodeError{node: s.name, err: fmt.Errorf("partitioner: partition count of %q unknown", topic)}
		}
		if p, ok := s.cfg.Partitioner(topic, r.Key, r.Value, n); ok {
			if p < 0 || p >= n {
				return &nodeError{node: s.name, err: fmt.Errorf("partitioner chose partition %d of %d in %q", p, n, topic)}
			}
			partition = p
		}
	}
	err = s.task.output.Send(ProducedRecord{Topic: topic, Partition: partition, Key: kb, Value: vb, Timestamp: r.Timestamp, Headers: r.Headers})
	if err != nil {
		return &nodeError{node: s.name, err: fmt.Errorf("send to %q: %w", topic, err)}
	}
	return nil
}
