package dsl

import (
	"errors"
	"math"
	"slices"
	"sync/atomic"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

// windowProcessor aggregates records into time windows (Kafka Streams'
// KStreamWindowAggregate) or sliding windows (KStreamSlidingWindowAggregate) in a
// timestamped window store, each window's value stamped with the largest timestamp of
// its records.
type windowProcessor[K, V, VR any] struct {
	store string
	spec  windowSpec
	// final emits each window once, as it closes, instead of on every update.
	final   bool
	fold    func(K, V, *VR) VR
	dropped *atomic.Int64

	ctx    runtime.ProcessorContext[serde.Windowed[K], change[VR]]
	st     *state.TimestampedWindowStore[K, VR]
	cached bool
	obs    observer
	// emitted is the largest window start emitted as final; windows starting at or
	// before it are closed.
	emitted int64
}

func (p *windowProcessor[K, V, VR]) Init(ctx runtime.ProcessorContext[serde.Windowed[K], change[VR]]) error {
	st, err := runtime.GetStore[*state.TimestampedWindowStore[K, VR]](ctx, p.store)
	if err != nil {
		return err
	}
	p.ctx, p.st, p.emitted = ctx, st, math.MinInt64
	if last := st.ObservedStreamTime(); last != math.MinInt64 {
		// Before a restart, every window that had closed was emitted, and stream time
		// was at least the latest window start put (less 1, a sliding right window):
		// what closed by then need not be emitted again.
		p.emitted = last - 1 - p.spec.grace - p.spec.size - 1
	}
	final := p.final
	p.cached = st.SetFlushListener(func(w serde.Windowed[K], nv, ov *serde.ValueAndTimestamp[VR]) error {
		if final {
			return nil
		}
		c, ts := change[VR]{}, w.End
		if ov != nil {
			c.old = &ov.Value
		}
		if nv != nil {
			c.new, ts = &nv.Value, nv.Timestamp
		}
		return ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: w, Value: c, Timestamp: ts})
	})
	return nil
}

func (p *windowProcessor[K, V, VR]) Close() error { return nil }

func (p *windowProcessor[K, V, VR]) Process(r runtime.Record[K, V]) error {
	closeTime := p.obs.see(r.Timestamp) - p.spec.grace
	if p.final {
		// Before this record's puts: the store's retention is counted from the windows
		// put, and a window must still be readable when it closes.
		if err := p.emitClosed(closeTime); err != nil {
			return err
		}
	}
	var late bool
	var err error
	if p.spec.sliding {
		late, err = p.slide(r, closeTime)
	} else {
		late, err = p.hop(r, closeTime)
	}
	if late {
		p.dropped.Add(1)
		p.ctx.LateRecordDropped()
	}
	return err
}

// hop adds r to each of its time windows that is still open (its end after
// closeTime), and reports whether one had closed.
func (p *windowProcessor[K, V, VR]) hop(r runtime.Record[K, V], closeTime int64) (late bool, err error) {
	for _, start := range p.spec.windowsFor(r.Timestamp) {
		if start+p.spec.size <= closeTime {
			late = true
			continue
		}
		old, oldTS, err := p.get(r.Key, start)
		if err != nil {
			return late, err
		}
		ts := r.Timestamp
		if old != nil {
			ts = max(ts, oldTS)
		}
		expired, err := p.put(r, start, old, p.fold(r.Key, r.Value, old), ts)
		if err != nil {
			return late, err
		}
		late = late || expired
	}
	return late, nil
}

// get returns the aggregate of key's window at start, nil if none, and its timestamp.
func (p *windowProcessor[K, V, VR]) get(key K, start int64) (*VR, int64, error) {
	vt, found, err := p.st.Get(key, start)
	if err != nil || !found {
		return nil, 0, err
	}
	return &vt.Value, vt.Timestamp, nil
}

// put stores agg as the aggregate of r's key in the window at start and forwards the
// update unless the cache or the final emission will. A window past the store's
// retention (only after a restart, which resets the observed stream time) is dropped
// and reported as expired.
func (p *windowProcessor[K, V, VR]) put(r runtime.Record[K, V], start int64, old *VR, agg VR, ts int64) (expired bool, err error) {
	err = p.st.Put(r.Key, serde.ValueAndTimestamp[VR]{Value: agg, Timestamp: ts}, start)
	if errors.Is(err, state.ErrExpired) {
		return true, nil
	}
	if err != nil || p.cached || p.final {
		return false, err
	}
	w := serde.Windowed[K]{Key: r.Key, Start: start, End: start + p.spec.size}
	return false, p.ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: w, Value: change[VR]{old: old, new: &agg}, Timestamp: ts, Headers: r.Headers})
}

// emitClosed forwards the final result of every window that closed since the last
// call, now that windows ending at or before closeTime (before it, for sliding
// windows, whose end is inclusive) are closed: by start, then key.
func (p *windowProcessor[K, V, VR]) emitClosed(closeTime int64) error {
	last := closeTime - p.spec.size
	if p.spec.sliding {
		last--
	}
	if last <= p.emitted {
		return nil
	}
	from := p.emitted
	if from != math.MinInt64 {
		from++
	}
	p.emitted = last
	it, err := p.st.FetchAll(from, last)
	if err != nil {
		return err
	}
	defer it.Close()
	type row struct {
		w  serde.Windowed[K]
		vt serde.ValueAndTimestamp[VR]
	}
	var rows []row
	for it.Next() {
		rows = append(rows, row{it.Key(), it.Value()})
	}
	if err := it.Err(); err != nil {
		return err
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmpInt64(a.w.Start, b.w.Start) })
	for _, r := range rows {
		v := r.vt.Value
		if err := p.ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: r.w, Value: change[VR]{new: &v}, Timestamp: r.vt.Timestamp}); err != nil {
			return err
		}
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// slide adds r to the sliding windows of its key as KIP-450 defines them, reporting
// whether a window it belongs to had closed. Windows are [start, start+d], both ends
// included; each record has a left window [t-d, t] and, once a later record falls
// within d of it, a right window [t+1, t+1+d]. Left windows of records earlier than d
// start before the epoch, where Kafka Streams folds them into one [0, d] window.
func (p *windowProcessor[K, V, VR]) slide(r runtime.Record[K, V], closeTime int64) (late bool, err error) {
	ts, d := r.Timestamp, p.spec.size
	if ts+1+d <= closeTime {
		return true, nil // even its right window has closed
	}
	it, err := p.st.Fetch(r.Key, ts-2*d, ts+1)
	if err != nil {
		return false, err
	}
	type window struct {
		start int64
		vt    serde.ValueAndTimestamp[VR]
	}
	var found []window
	for it.Next() {
		found = append(found, window{it.Key().Start, it.Value()})
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	starts := map[int64]bool{}
	var leftAgg, rightAgg *serde.ValueAndTimestamp[VR]
	var leftDone, rightDone bool
	prev := int64(math.MinInt64) // the latest earlier record, if any
	// update adds r to an existing or new window unless it has closed.
	update := func(start int64, old *VR, oldTS int64) error {
		if start+d < closeTime {
			late = true
			return nil
		}
		ts := ts
		if old != nil {
			ts = max(ts, oldTS)
		}
		expired, err := p.put(r, start, old, p.fold(r.Key, r.Value, old), ts)
		late = late || expired
		return err
	}
	for _, w := range found {
		starts[w.start] = true
		end := w.start + d
		switch {
		case end < ts:
			leftAgg, prev = &w.vt, w.vt.Timestamp
		case end == ts:
			leftDone = true
			if w.vt.Timestamp < ts {
				prev = w.vt.Timestamp
			}
			if err := update(w.start, &w.vt.Value, w.vt.Timestamp); err != nil {
				return late, err
			}
		case w.start <= ts:
			rightAgg = &w.vt
			if err := update(w.start, &w.vt.Value, w.vt.Timestamp); err != nil {
				return late, err
			}
		default: // w.start == ts+1
			rightDone = true
		}
	}
	// The previous record's right window starts holding records with this one.
	if prev != math.MinInt64 && !starts[prev+1] && prev+1+d >= ts {
		if err := update(prev+1, nil, 0); err != nil {
			return late, err
		}
	}
	if !leftDone {
		// The left window holds what the previous record's left window holds within d
		// of this record, which is all of it when the previous record is within d.
		var seed *VR
		if leftAgg != nil && prev >= ts-d {
			seed = &leftAgg.Value
		}
		if ts < closeTime {
			late = true
		} else {
			// A new window: nothing is taken back downstream, whatever seeded it.
			expired, err := p.put(r, ts-d, nil, p.fold(r.Key, r.Value, seed), ts)
			if err != nil {
				return late, err
			}
			late = late || expired
		}
	}
	if !rightDone && rightAgg != nil && rightAgg.Timestamp > ts {
		// The records after this one within d are those of the latest window holding
		// it, before it was added: they make its right window.
		if _, err := p.putCopy(r.Key, ts+1, *rightAgg); err != nil {
			return late, err
		}
	}
	return late, nil
}

// putCopy creates key's window at start holding vt as it is, and forwards it.
func (p *windowProcessor[K, V, VR]) putCopy(key K, start int64, vt serde.ValueAndTimestamp[VR]) (bool, error) {
	err := p.st.Put(key, vt, start)
	if errors.Is(err, state.ErrExpired) {
		return true, nil
	}
	if err != nil || p.cached || p.final {
		return false, err
	}
	v := vt.Value
	w := serde.Windowed[K]{Key: key, Start: start, End: start + p.spec.size}
	return false, p.ctx.Forward(runtime.Record[serde.Windowed[K], change[VR]]{Key: w, Value: change[VR]{new: &v}, Timestamp: vt.Timestamp})
}
