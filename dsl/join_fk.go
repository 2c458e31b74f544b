package dsl

import (
	"bytes"
	"fmt"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// Foreign-key joins follow Kafka Streams' KTable-KTable foreign-key join (KIP-213): a
// left row joins the right row whose key fk extracts from its value, and the result is
// keyed by the left key. The tables need not be co-partitioned: each left row
// subscribes to its foreign key through the internal topic
// "<app-id>-<base>-subscription-registration-repartition", partitioned by foreign key,
// where the right side keeps the subscriptions in a store; answers (the right value,
// on each subscription and on each update of a subscribed right row) return through
// "<app-id>-<base>-subscription-response-repartition", partitioned by left key. Each
// answer carries a hash of the left value it answers, and the left side drops answers
// for a value it no longer has, so results follow the latest left value under any
// interleaving.
//
// Updates and deletes on either side update the result: deleting the right row
// deletes the results of its subscribers in a join (or joins them with nil in a left
// join), deleting a left row deletes its result, and a left row whose foreign key
// changes joins its new right row, or, in a join, is deleted from the result when the
// new right row is missing.
//
// base is the Named given, or else generated per kind, as
// KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n> and
// KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-<n>. The result is always kept in a store (so
// its updates carry old values): named by Materialized, else
// "KTABLE-FK-JOIN-OUTPUT-STATE-STORE-<n>"; Materialized.Values is required unless VR is
// V's type. The subscription store is "<Materialized.Name>-subscription-store", or
// KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-<n>.
//
// fk and joiner must be pure: fk is applied again to old values.
//
// Where we differ from Kafka Streams, for now: the runtime sizes each internal topic
// like the sub-topology writing it, so the response topic gets the right table's
// partition count and is read together with the left table, and the two tables' topics
// need the same partition count (else ErrCopartitioning at start); Kafka Streams sizes
// both topics to match their readers.

// JoinOnForeignKey returns the table of t's rows whose foreign key, fk of the value, is
// a key of other, joined with that row by joiner.
func (t Table[K, V]) JoinOnForeignKey[KO, VO, VR any](other Table[KO, VO], fk func(V) KO, joiner func(V, VO) VR, opts ...TableOption) Table[K, VR] {
	return fkJoin(t, other, fk, true, func(v V, vo *VO) *VR {
		if vo == nil {
			return nil
		}
		r := joiner(v, *vo)
		return &r
	}, "JoinOnForeignKey", opts)
}

// LeftJoinOnForeignKey returns the table of t's rows joined by joiner with the row of
// other their foreign key names, nil when other lacks it.
func (t Table[K, V]) LeftJoinOnForeignKey[KO, VO, VR any](other Table[KO, VO], fk func(V) KO, joiner func(V, *VO) VR, opts ...TableOption) Table[K, VR] {
	return fkJoin(t, other, fk, false, func(v V, vo *VO) *VR {
		r := joiner(v, vo)
		return &r
	}, "LeftJoinOnForeignKey", opts)
}

// fkJoin adds the processors, topics and stores of a foreign-key join.
func fkJoin[K, V, KO, VO, VR any](t Table[K, V], other Table[KO, VO], fk func(V) KO, inner bool, combine func(V, *VO) *VR, op string, opts []TableOption) Table[K, VR] {
	b := t.b
	o := tableOpts[K, VR](b, op, opts)
	sender := b.processorName(suffixed(o.named, "-subscription-registration-processor"), "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION")
	receiver := b.processorName(suffixed(o.named, "-subscription-receive-processor"), "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR")
	updater := b.processorName(suffixed(o.named, "-subscription-join-processor"), "KTABLE-FK-JOIN-SUBSCRIPTION-JOIN")
	resolver := b.processorName(suffixed(o.named, "-result"), "KTABLE-FK-JOIN-OUTPUT")
	out := Table[K, VR]{b: b, node: resolver, keys: t.keys, values: carry[VR](t.values)}
	if !b.sameBuilder(op, other.b) {
		return out
	}
	if t.keys == nil || t.values == nil || other.keys == nil || other.values == nil {
		b.fail(fmt.Errorf("%w: %s: both tables' key and value serdes must be known (Materialized of their stores)", ErrSerdeRequired, op))
		return out
	}
	regBase := b.topicName(suffixed(o.named, "-subscription-registration"), "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION")
	respBase := b.topicName(suffixed(o.named, "-subscription-response"), "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE")
	subStore := joinStoreName(b, o.m.Name, "-subscription-store", "KTABLE-FK-JOIN-SUBSCRIPTION")
	out.store = b.storeName(o.m.Name, "KTABLE-FK-JOIN-OUTPUT")

	keys, values, fkeys := t.keys, t.values, other.keys
	subSerde := fkSubscriptionSerde[K]{keys: keys}
	respSerde := fkResponseSerde[VO]{values: other.values}
	regTopic, respTopic := b.top.InternalTopic(regBase), b.top.InternalTopic(respBase)
	regSink, regSource := regBase+"-sink", regBase+"-source"
	respSink, respSource := respBase+"-sink", respBase+"-source"

	// Left side: each change of a row subscribes it to its foreign key.
	addProcessor(b, sender, stateless(func(ctx runtime.ProcessorContext[KO, fkSubscription[K]], r runtime.Record[K, change[V]]) error {
		return sendSubscriptions(ctx, r, fk, fkeys, values, inner)
	}), t.node)
	b.do(func() error { return b.top.AddRepartitionTopic(regBase, 0) })
	b.do(func() error {
		return b.top.AddSink(regSink, runtime.SinkConfig[KO, fkSubscription[K]]{Topic: regTopic, Keys: fkeys, Values: subSerde}, sender)
	})
	b.do(func() error {
		return b.top.AddSource(regSource, runtime.SourceConfig[KO, fkSubscription[K]]{Topics: []string{regTopic}, Keys: fkeys, Values: subSerde})
	})

	// Right side: keep subscriptions, answer them, and answer again on each update.
	rightGet := other.get
	addProcessor(b, receiver, func() runtime.Processor[KO, fkSubscription[K], K, fkResponse[VO]] {
		return &fkReceiver[K, KO, VO]{store: subStore, open: rightGet.open, keys: keys, fkeys: fkeys}
	}, regSource)
	addProcessor(b, updater, func() runtime.Processor[KO, change[VO], K, fkResponse[VO]] {
		return &fkUpdater[K, KO, VO]{store: subStore, keys: keys, fkeys: fkeys}
	}, other.node)
	b.do(func() error {
		return b.top.AddStateStore(runtime.KeyValueStoreBuilder(subStore, serde.Bytes(), serde.Bytes(), runtime.StoreOptions{
			Persistent: !o.m.InMemory, Logging: !o.m.LoggingDisabled}), receiver, updater)
	})
	b.do(func() error { return b.top.ConnectProcessorAndStateStores(receiver, rightGet.stores...) })
	b.do(func() error { return b.top.AddRepartitionTopic(respBase, 0) })
	b.do(func() error {
		return b.top.AddSink(respSink, runtime.SinkConfig[K, fkResponse[VO]]{Topic: respTopic, Keys: keys, Values: respSerde}, receiver, updater)
	})
	b.do(func() error {
		return b.top.AddSource(respSource, runtime.SourceConfig[K, fkResponse[VO]]{Topics: []string{respTopic}, Keys: keys, Values: respSerde})
	})

	// Left side again: apply each answer still current to the result.
	leftGet := t.get
	addProcessor(b, resolver, func() runtime.Processor[K, fkResponse[VO], K, change[VR]] {
		return &fkResolver[K, V, VO, VR]{store: out.store, open: leftGet.open, values: values, combine: combine}
	}, respSource)
	b.do(func() error { return b.top.ConnectProcessorAndStateStores(resolver, leftGet.stores...) })
	out.keys, out.values = addTableStore(b, out.store, o.m, out.keys, out.values, resolver)
	out.get = storeGetter[K, VR](out.store)
	return out
}

// sendSubscriptions turns one change of a left row into its subscriptions, as
// KIP-213's SubscriptionSendProcessor.
func sendSubscriptions[K, V, KO any](ctx runtime.ProcessorContext[KO, fkSubscription[K]], r runtime.Record[K, change[V]], fk func(V) KO, fkeys serde.Serde[KO], values serde.Serde[V], inner bool) error {
	send := func(fko KO, instr byte, hash []byte) error {
		return ctx.Forward(runtime.Record[KO, fkSubscription[K]]{Key: fko, Value: fkSubscription[K]{instruction: instr, hash: hash, key: r.Key}, Timestamp: r.Timestamp, Headers: r.Headers})
	}
	old, nw := r.Value.old, r.Value.new
	if nw == nil {
		if old == nil {
			return nil
		}
		return send(fk(*old), fkDeleteAndPropagate, nil)
	}
	vb, err := values.Encode(*nw)
	if err != nil {
		return err
	}
	hash := fkHash(nonNil(vb))
	newFK := fk(*nw)
	if old != nil {
		oldFK := fk(*old)
		moved, err := differ(fkeys, oldFK, newFK)
		if err != nil {
			return err
		}
		if moved {
			if err := send(oldFK, fkDeleteNoPropagate, nil); err != nil {
				return err
			}
			return send(newFK, fkPropagateNullIfMissing, hash)
		}
	}
	if inner {
		return send(newFK, fkPropagateIfPresent, hash)
	}
	return send(newFK, fkPropagateNullIfMissing, hash)
}

// differ reports whether a and b encode differently, which is how foreign keys compare.
func differ[T any](s serde.Serde[T], a, b T) (bool, error) {
	ab, err := s.Encode(a)
	if err != nil {
		return false, err
	}
	bb, err := s.Encode(b)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(ab, bb), nil
}

// nonNil returns b, or empty bytes for nil: a present value hashes as present.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fkReceiver keeps the subscriptions of the foreign keys of its partition and answers
// each with the right row's current value, as KIP-213's SubscriptionReceiveProcessor
// and SubscriptionJoinProcessor.
type fkReceiver[K, KO, VO any] struct {
	store string
	open  func(storeContext) (lookup[KO, VO], error)
	keys  serde.Serde[K]
	fkeys serde.Serde[KO]
	ctx   runtime.ProcessorContext[K, fkResponse[VO]]
	subs  *state.KeyValueStore[[]byte, []byte]
	right lookup[KO, VO]
}

func (p *fkReceiver[K, KO, VO]) Init(ctx runtime.ProcessorContext[K, fkResponse[VO]]) error {
	p.ctx = ctx
	var err error
	if p.subs, err = runtime.GetStore[*state.KeyValueStore[[]byte, []byte]](ctx, p.store); err != nil {
		return err
	}
	p.right, err = p.open(ctx)
	return err
}

func (p *fkReceiver[K, KO, VO]) Process(r runtime.Record[KO, fkSubscription[K]]) error {
	fkb, err := p.fkeys.Encode(r.Key)
	if err != nil {
		return err
	}
	kb, err := p.keys.Encode(r.Value.key)
	if err != nil {
		return err
	}
	sk := fkStoreKey(fkb, kb)
	answer := func(vo *VO) error {
		return p.ctx.Forward(runtime.Record[K, fkResponse[VO]]{Key: r.Value.key, Value: fkResponse[VO]{hash: r.Value.hash, value: vo}, Timestamp: r.Timestamp, Headers: r.Headers})
	}
	switch r.Value.instruction {
	case fkDeleteAndPropagate:
		if err := p.subs.Delete(sk); err != nil {
			return err
		}
		return answer(nil)
	case fkDeleteNoPropagate:
		return p.subs.Delete(sk)
	}
	if err := p.subs.Put(sk, r.Value.hash); err != nil {
		return err
	}
	vo, _, err := p.right(r.Key)
	if err != nil {
		return err
	}
	if vo == nil && r.Value.instruction == fkPropagateIfPresent {
		return nil
	}
	return answer(vo)
}

func (p *fkReceiver[K, KO, VO]) Close() error { return nil }

// fkUpdater answers every subscriber of a right row again when the row changes.
type fkUpdater[K, KO, VO any] struct {
	store string
	keys  serde.Serde[K]
	fkeys serde.Serde[KO]
	ctx   runtime.ProcessorContext[K, fkResponse[VO]]
	subs  *state.KeyValueStore[[]byte, []byte]
}

func (p *fkUpdater[K, KO, VO]) Init(ctx runtime.ProcessorContext[K, fkResponse[VO]]) error {
	p.ctx = ctx
	var err error
	p.subs, err = runtime.GetStore[*state.KeyValueStore[[]byte, []byte]](ctx, p.store)
	return err
}

func (p *fkUpdater[K, KO, VO]) Process(r runtime.Record[KO, change[VO]]) error {
	fkb, err := p.fkeys.Encode(r.Key)
	if err != nil {
		return err
	}
	prefix := fkStorePrefix(fkb)
	it, err := p.subs.PrefixScan(prefix)
	if err != nil {
		return err
	}
	type sub struct{ key, hash []byte }
	var subs []sub
	for it.Next() {
		subs = append(subs, sub{key: it.Key()[len(prefix):], hash: it.Value()})
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return err
	}
	for _, s := range subs {
		k, err := p.keys.Decode(s.key)
		if err != nil {
			return err
		}
		resp := fkResponse[VO]{hash: s.hash, value: r.Value.new}
		if err := p.ctx.Forward(runtime.Record[K, fkResponse[VO]]{Key: k, Value: resp, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
			return err
		}
	}
	return nil
}

func (p *fkUpdater[K, KO, VO]) Close() error { return nil }

// fkResolver applies the answers that match the left row's current value to the
// result, as KIP-213's ResponseJoinProcessor, and keeps the result.
type fkResolver[K, V, VO, VR any] struct {
	store   string
	open    func(storeContext) (lookup[K, V], error)
	values  serde.Serde[V]
	combine func(V, *VO) *VR
	w       *tableWriter[K, VR]
	left    lookup[K, V]
}

func (p *fkResolver[K, V, VO, VR]) Init(ctx runtime.ProcessorContext[K, change[VR]]) error {
	var err error
	if p.w, err = openTableWriter(ctx, p.store); err != nil {
		return err
	}
	p.left, err = p.open(ctx)
	return err
}

func (p *fkResolver[K, V, VO, VR]) Process(r runtime.Record[K, fkResponse[VO]]) error {
	cur, _, err := p.left(r.Key)
	if err != nil {
		return err
	}
	var curHash []byte
	if cur != nil {
		vb, err := p.values.Encode(*cur)
		if err != nil {
			return err
		}
		curHash = fkHash(nonNil(vb))
	}
	if !bytes.Equal(curHash, r.Value.hash) {
		return nil // an answer for a value the row no longer has
	}
	var nw *VR
	if cur != nil {
		nw = p.combine(*cur, r.Value.value)
	}
	old, _, err := p.w.get(r.Key)
	if err != nil {
		return err
	}
	if old == nil && nw == nil {
		return nil
	}
	return p.w.write(runtime.Record[K, change[VR]]{Key: r.Key, Value: change[VR]{old: old, new: nw}, Timestamp: r.Timestamp, Headers: r.Headers})
}

func (p *fkResolver[K, V, VO, VR]) Close() error { return nil }
