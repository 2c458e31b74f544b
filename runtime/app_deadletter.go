package runtime

import (
	"bytes"
	"errors"
	"strconv"
)

// Headers of a dead-letter record. The first six are the ones Kafka Streams writes
// (KIP-1034), so tools that read its dead-letter topics read ours; values are UTF-8
// text.
const (
	// DeadLetterHeaderException is the kind of failure: "deserialization" or
	// "processing" (from ErrDeserialization and ErrProcessing), else "error".
	DeadLetterHeaderException = "__streams.errors.exception"
	// DeadLetterHeaderMessage is the error's text.
	DeadLetterHeaderMessage = "__streams.errors.message"
	// DeadLetterHeaderTopic, DeadLetterHeaderPartition and DeadLetterHeaderOffset
	// locate the failed record in its source topic.
	DeadLetterHeaderTopic     = "__streams.errors.topic"
	DeadLetterHeaderPartition = "__streams.errors.partition"
	DeadLetterHeaderOffset    = "__streams.errors.offset"
	// DeadLetterHeaderTask is the ID of the task that met the error, "0_3".
	DeadLetterHeaderTask = "__streams.errors.task.id"
	// DeadLetterHeaderNode is the node that failed, for processing errors.
	DeadLetterHeaderNode = "__streams.errors.processor.node.id"
)

// SendToDeadLetterTopic returns an ErrorHandler, for Config.OnDeserializationError
// or OnProcessingError, that sends each failed record to topic and continues: the
// record's original key, value, timestamp and headers, followed by the
// DeadLetterHeader* headers saying where it came from and why it failed, partitioned
// by its key. The record goes out through the task's output, so it is written before
// the commit that moves past its offset: at least once, like the rest of the output.
//
// The topic is not created: a missing one makes the sends fail, which
// Config.OnProductionError handles (by default, the application stops). A failed
// punctuation has no record to send and is skipped and counted. The handler says
// ActionFail when topic is empty, when the task has no output (a global task) or when
// the output already failed.
func SendToDeadLetterTopic(topic string) ErrorHandler {
	return func(ec ErrorContext, err error) ErrorAction {
		if ec.Record == nil {
			return ActionContinue
		}
		if topic == "" || ec.Output == nil {
			return ActionFail
		}
		if ec.Output.Send(deadLetter(topic, ec, err)) != nil {
			return ActionFail
		}
		return ActionContinue
	}
}

// deadLetter builds the dead-letter record of the failed ec.Record, copying its
// bytes, which are valid only during the handler's call.
func deadLetter(topic string, ec ErrorContext, err error) ProducedRecord {
	r := ec.Record
	kind := "error"
	switch {
	case errors.Is(err, ErrDeserialization):
		kind = "deserialization"
	case errors.Is(err, ErrProcessing):
		kind = "processing"
	}
	headers := make([]Header, 0, len(r.Headers)+7)
	for _, h := range r.Headers {
		headers = append(headers, Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	add := func(key, value string) { headers = append(headers, Header{Key: key, Value: []byte(value)}) }
	add(DeadLetterHeaderException, kind)
	add(DeadLetterHeaderMessage, err.Error())
	add(DeadLetterHeaderTopic, r.Topic)
	add(DeadLetterHeaderPartition, strconv.FormatInt(int64(r.Partition), 10))
	add(DeadLetterHeaderOffset, strconv.FormatInt(r.Offset, 10))
	add(DeadLetterHeaderTask, ec.TaskID.String())
	if ec.Node != "" {
		add(DeadLetterHeaderNode, ec.Node)
	}
	return ProducedRecord{
		Topic:     topic,
		Partition: -1,
		Key:       bytes.Clone(r.Key),
		Value:     bytes.Clone(r.Value),
		Timestamp: r.Timestamp,
		Headers:   headers,
	}
}
