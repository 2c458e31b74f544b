package dsl

import (
	"errors"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// SessionWindowedStream is a grouped stream windowed by SessionWindows, for session
// aggregations: Kafka Streams' SessionWindowedKStream. Its aggregations return a table
// keyed by serde.Windowed[K], one row per key and session, whose Start and End are the
// times of the session's first and last records; when a record merges sessions, the
// table deletes the merged ones and adds the new one.
type SessionWindowedStream[K, V any] struct {
	g          GroupedStream[K, V]
	gap, grace int64
	late       *Stream[K, V]
}

// SessionWindowedBy windows the grouped stream by session windows: Kafka Streams'
// windowedBy(SessionWindows), a method of its own because Go cannot overload
// WindowedBy by argument type. Invalid windows are a Build error wrapping
// ErrInvalidWindows.
func (g GroupedStream[K, V]) SessionWindowedBy(w SessionWindows) SessionWindowedStream[K, V] {
	gap, grace, err := w.spec()
	if err != nil {
		g.s.b.fail(err)
	}
	return SessionWindowedStream[K, V]{g: g, gap: gap, grace: grace}
}

// WithLateRecords makes the next aggregation set *dst to the stream of the records it
// drops as late: records that would only create or join sessions closed by then (the
// session's end + gap + grace at or before the observed stream time). See
// TimeWindowedStream.WithLateRecords.
func (w SessionWindowedStream[K, V]) WithLateRecords(dst *Stream[K, V]) SessionWindowedStream[K, V] {
	w.late = dst
	return w
}

// Count counts the records of each session; the count's serde defaults to
// serde.Int64. Options are a Named, a Materialized[K, int64] and an EmitStrategy. WK is
// serde.Windowed[K], inferred (see TimeWindowedStream.Count).
func (w SessionWindowedStream[K, V]) Count[WK interface{ serde.Windowed[K] }](opts ...TableOption) Table[WK, int64] {
	o := windowOpts[K, int64](w.g.s.b, "Count", opts)
	if o.m.Values == nil {
		o.m.Values = serde.Int64()
	}
	return sessionAggregate[WK](w, "KSTREAM-AGGREGATE", o, nil, countFold[K, V], func(_ K, a, b int64) int64 { return a + b })
}

// Reduce combines the records of each session with f, which also combines the
// aggregates of two sessions a record merges. Options are a Named, a Materialized[K, V]
// and an EmitStrategy.
func (w SessionWindowedStream[K, V]) Reduce[WK interface{ serde.Windowed[K] }](f func(agg, v V) V, opts ...TableOption) Table[WK, V] {
	return sessionAggregate[WK](w, "KSTREAM-REDUCE", windowOpts[K, V](w.g.s.b, "Reduce", opts), w.g.s.values, reduceFold[K](f), func(_ K, a, b V) V { return f(a, b) })
}

// Aggregate folds the records of each session: init gives a new session's aggregate,
// add folds one record into it, and merge combines the aggregates of sessions a record
// bridges (earlier session first). Materialized.Values is required unless VR is V's
// type. Options are a Named, a Materialized[K, VR] and an EmitStrategy.
//
// Kafka Streams starts a merge from init and merges every session into it; here the
// first merged session's aggregate is the start, which is the same whenever init is
// merge's identity, as it should be.
func (w SessionWindowedStream[K, V]) Aggregate[VR any, WK interface{ serde.Windowed[K] }](init func() VR, add func(K, V, VR) VR, merge func(K, VR, VR) VR, opts ...TableOption) Table[WK, VR] {
	return sessionAggregate[WK](w, "KSTREAM-AGGREGATE", windowOpts[K, VR](w.g.s.b, "Aggregate", opts), carry[VR](w.g.s.values), freshOr(init, add), merge)
}

// sessionAggregate adds a session aggregation of w: its session store, the repartition
// it needs, the processor, the late-records node if asked for, and, to emit only final
// results, a Suppress(UntilWindowCloses) with an unbounded buffer.
func sessionAggregate[WK, K, V, VR any](w SessionWindowedStream[K, V], kind string, o windowOptions[K, VR], values serde.Serde[VR], fold func(K, V, *VR) VR, merge func(K, VR, VR) VR) Table[WK, VR] {
	b := w.g.s.b
	store := b.storeName(o.m.Name, kind)
	s := grouped(w.g.s, w.g.g, store)
	name := b.processorName(o.named, kind)
	gap, grace := w.gap, w.grace
	// A session [start, end] takes a record at end + gap while end + gap + grace is
	// after stream time.
	node := windowedProcessor[K](b, name, gap+grace+1)
	addProcessor(b, name, func() runtime.Processor[K, V, serde.Windowed[K], change[VR]] {
		return &sessionProcessor[K, V, VR]{store: store, gap: gap, grace: grace, fold: fold, merge: merge, dropped: &node.dropped, obs: newObserver()}
	}, s.node)
	keys, values := addSessionStore(b, store, o.m, s.keys, values, gap+grace+1, name)
	if w.late != nil {
		lateName := b.processorName(suffixed(o.named, "-late-records"), "KSTREAM-LATE-RECORDS")
		*w.late = addLateStream(s, lateName, []string{store}, func(ctx storeContext) (func(runtime.Record[K, V], int64) (bool, error), error) {
			st, err := runtime.GetStore[*state.SessionStore[K, VR]](ctx, store)
			if err != nil {
				return nil, err
			}
			return func(r runtime.Record[K, V], observed int64) (bool, error) {
				_, _, end, err := findSessions(st, r.Key, r.Timestamp, gap)
				return end < observed-grace-gap, err
			}, nil
		})
	}
	var wkeys serde.Serde[serde.Windowed[K]]
	if keys != nil {
		wkeys = serde.SessionKey(keys)
	}
	t := windowedTable[WK](b, name, store, wkeys, values, sessionStoreGetter[K, VR](store))
	if o.emitFinal {
		t = t.Suppress(UntilWindowCloses(BufferConfig{}), Named(suffixed(o.named, "-emit-final")))
	}
	return t
}

// addSessionStore adds the session store of a session aggregation, connected to
// processors, and returns its serdes. Retention is Materialized's, at least least:
// gap + grace + 1, since a session whose end is gap + grace before stream time can
// still take a record.
func addSessionStore[K, V any](b *Builder, name string, m Materialized[K, V], keys serde.Serde[K], values serde.Serde[V], least int64, processors ...string) (serde.Serde[K], serde.Serde[V]) {
	if m.Keys != nil {
		keys = m.Keys
	}
	if m.Values != nil {
		values = m.Values
	}
	if keys == nil || values == nil {
		b.fail(serdeRequired(name))
		return keys, values
	}
	retention, err := retentionOf(m, least)
	if err != nil {
		b.fail(err)
	}
	sb := runtime.SessionStoreBuilder(name, keys, values, state.SessionConfig{Retention: retention}, storeOptions(m))
	b.do(func() error { return b.top.AddStateStore(sb, processors...) })
	return keys, values
}

// sessionStoreGetter reads a session table's rows from its session store; a row's
// timestamp is its session's end.
func sessionStoreGetter[K, V any](name string) getter[serde.Windowed[K], V] {
	return getter[serde.Windowed[K], V]{stores: []string{name}, open: func(ctx storeContext) (lookup[serde.Windowed[K], V], error) {
		st, err := runtime.GetStore[*state.SessionStore[K, V]](ctx, name)
		if err != nil {
			return nil, err
		}
		return func(w serde.Windowed[K]) (*V, int64, error) {
			v, found, err := st.FetchSession(w.Key, w.Start, w.End)
			if err != nil || !found {
				return nil, 0, err
			}
			return &v, w.End, nil
		}, nil
	}}
}

// session is one stored session and its aggregate.
type session[K, VR any] struct {
	w   serde.Windowed[K]
	agg VR
}

// findSessions returns the sessions of key a record at ts joins (those within gap of
// it), and the bounds of the session they and the record make.
func findSessions[K, VR any](st *state.SessionStore[K, VR], key K, ts, gap int64) (found []session[K, VR], start, end int64, err error) {
	start, end = ts, ts
	it, err := st.FindSessions(key, ts-gap, ts+gap)
	if err != nil {
		return nil, start, end, err
	}
	for it.Next() {
		s := session[K, VR]{w: it.Key(), agg: it.Value()}
		found = append(found, s)
		start, end = min(start, s.w.Start), max(end, s.w.End)
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return found, start, end, err
}

// sessionProcessor aggregates records into session windows in a session store, as
// Kafka Streams' KStreamSessionWindowAggregate: a record joins the sessions within the
// gap of it, merging them into one.
type sessionProcessor[K, V, VR any] struct {
	store      string
	gap, grace int64
	fold       func(K, V, *VR) VR
	merge      func(K, VR, VR) VR
	dropped    interface{ Add(int64) int64 }

	ctx    runtime.ProcessorContext[serde.Windowed[K], change[VR]]
	st     *state.SessionStore[K, VR]
	cached bool
	obs    observer
}

func (p *sessionProcessor[K, V, VR]) Init(ctx runtime.ProcessorContext[serde.Windowed[K], change[VR]]) error {
	st, err := runtime.GetStore[*state.SessionStore[K, VR]](ctx, p.store)
	if err != nil {
		return err
	}
	p.ctx, p.st = ctx, st
	p.cached = st.SetFlushListener(func(w serde.Windowed[K], nv, ov *VR) error {
		return ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: w, Value: change[VR]{old: ov, new: nv}, Timestamp: w.End})
	})
	return nil
}

func (p *sessionProcessor[K, V, VR]) Close() error { return nil }

func (p *sessionProcessor[K, V, VR]) Process(r runtime.Record[K, V]) error {
	closeTime := p.obs.see(r.Timestamp) - p.grace - p.gap
	found, start, end, err := findSessions(p.st, r.Key, r.Timestamp, p.gap)
	if err != nil {
		return err
	}
	if end < closeTime {
		p.dropped.Add(1)
		p.ctx.LateRecordDropped()
		return nil
	}
	merged := serde.Windowed[K]{Key: r.Key, Start: start, End: end}
	var agg, old *VR
	for _, s := range found {
		if agg == nil {
			a := s.agg
			agg = &a
		} else {
			a := p.merge(r.Key, *agg, s.agg)
			agg = &a
		}
		if s.w.Start == start && s.w.End == end {
			// The record falls in this session: an update of it, where Kafka Streams
			// forwards a delete and a re-creation.
			old = &s.agg
			continue
		}
		if err := p.st.Remove(s.w); err != nil {
			return err
		}
		if err := p.forward(s.w, change[VR]{old: &s.agg}, s.w.End); err != nil {
			return err
		}
	}
	next := p.fold(r.Key, r.Value, agg)
	err = p.st.Put(merged, next)
	if errors.Is(err, state.ErrExpired) {
		p.dropped.Add(1)
		p.ctx.LateRecordDropped()
		return nil
	}
	if err != nil {
		return err
	}
	return p.forward(merged, change[VR]{old: old, new: &next}, end)
}

// forward sends a session's change unless the cache will.
func (p *sessionProcessor[K, V, VR]) forward(w serde.Windowed[K], c change[VR], ts int64) error {
	if p.cached {
		return nil
	}
	return p.ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: w, Value: c, Timestamp: ts})
}
