package dsl

import (
	"fmt"
	"io"
	"sync"

	"github.com/eddy-io/eddy/runtime"
)

// To writes every record to topic and ends the stream.
func (s Stream[K, V]) To(topic string, opts ...Produced[K, V]) {
	s.to(runtime.SinkConfig[K, V]{Topic: topic}, option(s.b, "To", opts))
}

// ToFunc writes each record to the topic topic returns for it (Kafka Streams'
// TopicNameExtractor) and ends the stream. The topics must exist.
func (s Stream[K, V]) ToFunc(topic func(r runtime.Record[K, V]) string, opts ...Produced[K, V]) {
	s.to(runtime.SinkConfig[K, V]{TopicFunc: topic}, option(s.b, "ToFunc", opts))
}

func (s Stream[K, V]) to(cfg runtime.SinkConfig[K, V], p Produced[K, V]) {
	name := s.b.processorName(p.Name, "KSTREAM-SINK")
	cfg.Keys, cfg.Values = p.Keys, p.Values
	if cfg.Keys == nil {
		cfg.Keys = s.keys
	}
	if cfg.Values == nil {
		cfg.Values = s.values
	}
	if cfg.Keys == nil || cfg.Values == nil {
		s.b.fail(fmt.Errorf("%w: sink %s: set Produced.Keys and Produced.Values", ErrSerdeRequired, name))
		return
	}
	cfg.Partitioner = p.Partitioner
	s.b.do(func() error { return s.b.top.AddSink(name, cfg, s.node) })
}

// Print writes each record to w as "[label]: key, value" (Kafka Streams' Printed
// format, values formatted with %v) and ends the stream. Writes from the tasks of all
// threads are serialized, so w need not be safe for concurrent use.
func (s Stream[K, V]) Print(w io.Writer, label string, opts ...Named) {
	name := s.b.processorName(s.b.named("Print", opts), "KSTREAM-PRINTER")
	var mu sync.Mutex
	addProcessor(s.b, name, stateless(func(_ runtime.ProcessorContext[struct{}, struct{}], r runtime.Record[K, V]) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(w, "[%s]: %v, %v\n", label, r.Key, r.Value); err != nil {
			return fmt.Errorf("dsl: print %s: %w", name, err)
		}
		return nil
	}), s.node)
}

// Repartition writes the stream through an internal topic, "<app-id>-<name>-repartition",
// and reads it back: records land in the partition of their current key, and the
// partition count may change. Grouping after it needs no further repartitioning.
func (s Stream[K, V]) Repartition(opts ...Repartitioned[K, V]) Stream[K, V] {
	r := option(s.b, "Repartition", opts)
	base := s.b.topicName(r.Name, "KSTREAM-REPARTITION")
	return repartition(s, base, r)
}

// Process runs a processor of the Processor API inside the DSL: supplier gives one
// instance per task, and the stores named in Processed.Stores (added with
// Builder.AddStateStore) are connected to it. The processor may change keys, so a later
// grouping or join repartitions; use ProcessValues when it does not.
func (s Stream[K, V]) Process[K2, V2 any](supplier func() runtime.Processor[K, V, K2, V2], opts ...Processed) Stream[K2, V2] {
	p := option(s.b, "Process", opts)
	name := s.b.processorName(p.Name, "KSTREAM-PROCESSOR")
	addProcessor(s.b, name, supplier, s.node)
	s.connect(name, p.Stores)
	return Stream[K2, V2]{b: s.b, node: name, keys: carry[K2](s.keys), values: carry[V2](s.values), rekeyed: true}
}

// ProcessValues is Process for a processor that keeps keys (Kafka Streams'
// FixedKeyProcessor): every record it forwards while processing a record gets that
// record's key, whatever key it was given, so partitioning is kept and no repartition
// follows. Records it forwards from a punctuator keep the key they carry.
func (s Stream[K, V]) ProcessValues[V2 any](supplier func() runtime.Processor[K, V, K, V2], opts ...Processed) Stream[K, V2] {
	p := option(s.b, "ProcessValues", opts)
	name := s.b.processorName(p.Name, "KSTREAM-PROCESSVALUES")
	addProcessor(s.b, name, func() runtime.Processor[K, V, K, V2] {
		return &fixedKeyProcessor[K, V, V2]{inner: supplier()}
	}, s.node)
	s.connect(name, p.Stores)
	return Stream[K, V2]{b: s.b, node: name, keys: s.keys, values: carry[V2](s.values), rekeyed: s.rekeyed}
}

// connect connects processor to the user's stores.
func (s Stream[K, V]) connect(processor string, stores []string) {
	if len(stores) > 0 {
		s.b.do(func() error { return s.b.top.ConnectProcessorAndStateStores(processor, stores...) })
	}
}

// fixedKeyProcessor runs inner with a context that restores the input key on forward.
type fixedKeyProcessor[K, V, V2 any] struct {
	inner runtime.Processor[K, V, K, V2]
	ctx   fixedKeyContext[K, V2]
}

func (p *fixedKeyProcessor[K, V, V2]) Init(ctx runtime.ProcessorContext[K, V2]) error {
	p.ctx.ProcessorContext = ctx
	return p.inner.Init(&p.ctx)
}

func (p *fixedKeyProcessor[K, V, V2]) Process(r runtime.Record[K, V]) error {
	p.ctx.key, p.ctx.processing = r.Key, true
	defer func() { p.ctx.processing = false }()
	return p.inner.Process(r)
}

func (p *fixedKeyProcessor[K, V, V2]) Close() error { return p.inner.Close() }

// fixedKeyContext is a processor context whose forwards, while a record is processed,
// carry that record's key.
type fixedKeyContext[K, V any] struct {
	runtime.ProcessorContext[K, V]
	key        K
	processing bool
}

func (c *fixedKeyContext[K, V]) Forward(r runtime.Record[K, V]) error {
	if c.processing {
		r.Key = c.key
	}
	return c.ProcessorContext.Forward(r)
}

func (c *fixedKeyContext[K, V]) ForwardTo(child string, r runtime.Record[K, V]) error {
	if c.processing {
		r.Key = c.key
	}
	return c.ProcessorContext.ForwardTo(child, r)
}
