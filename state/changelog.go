package state

import "fmt"

// ChangelogSink receives every write a logged store makes, in order, so the runtime can
// send it to the store's changelog topic. The store has no Kafka inside: the sink is the
// whole interface between the two.
type ChangelogSink interface {
	// Send reports that key was set to value, or deleted when value is nil (a
	// tombstone). A written empty value arrives as empty, non-nil bytes. The stores never
	// modify key or value after the call, so Send may keep them. An error fails the
	// write that caused it.
	Send(key, value []byte) error
}

// ChangelogSinkFunc adapts a function into a ChangelogSink.
type ChangelogSinkFunc func(key, value []byte) error

// Send calls f(key, value).
func (f ChangelogSinkFunc) Send(key, value []byte) error { return f(key, value) }

// loggingEngine reports each write to a sink after the engine below has taken it, as
// Kafka Streams' change-logging stores do: a failed engine write is never logged.
type loggingEngine struct {
	Engine
	sink ChangelogSink
}

func newLoggingEngine(inner Engine, sink ChangelogSink) *loggingEngine {
	return &loggingEngine{Engine: inner, sink: sink}
}

func (l *loggingEngine) Put(key, value []byte) error {
	if err := l.Engine.Put(key, value); err != nil {
		return err
	}
	if value == nil {
		// The engine stores nil as empty; the changelog must not turn it into a delete.
		value = []byte{}
	}
	if err := l.sink.Send(key, value); err != nil {
		return fmt.Errorf("state: changelog: %w", err)
	}
	return nil
}

func (l *loggingEngine) Delete(key []byte) error {
	if err := l.Engine.Delete(key); err != nil {
		return err
	}
	if err := l.sink.Send(key, nil); err != nil {
		return fmt.Errorf("state: changelog: %w", err)
	}
	return nil
}

// DeletePrefix is not logged. Stores call it only to drop an expired segment, and, as in
// Kafka Streams, a store restored from its changelog drops the same expired records
// again by its retention; the changelog topic's own retention removes them there.
func (l *loggingEngine) DeletePrefix(prefix []byte) error {
	return l.Engine.DeletePrefix(prefix)
}
