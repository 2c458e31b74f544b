package runtime

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// schedule is one punctuator registration.
type schedule struct {
	node      string
	interval  int64
	next      int64
	typ       PunctuationType
	fn        Punctuator
	cancelled bool
	seq       uint64
}

// advance moves next past now: by one interval, or by as many as were missed, so a
// gap in time fires the punctuator once rather than once per missed interval.
func (s *schedule) advance(now int64) {
	next := saturatingAdd(s.next, s.interval)
	if now >= next {
		missed := (now - s.next) / s.interval
		next = saturatingAdd(s.next, saturatingMul(missed+1, s.interval))
	}
	s.next = next
}

func saturatingMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// punctuate fires, once each, the punctuators of typ due at now, earliest first
// (ties in scheduling order). Punctuators scheduled while it runs wait for the next
// call.
func (t *Task) punctuate(typ PunctuationType, now int64) error {
	if now < 0 || len(t.puncts) == 0 {
		return nil
	}
	var due []*schedule
	live := t.puncts[:0]
	for _, s := range t.puncts {
		if s.cancelled {
			continue
		}
		live = append(live, s)
		if s.typ == typ && s.next <= now {
			due = append(due, s)
		}
	}
	clear(t.puncts[len(live):])
	t.puncts = live
	if len(due) == 0 {
		return nil
	}
	slices.SortFunc(due, func(a, b *schedule) int {
		if c := cmp.Compare(a.next, b.next); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	counter := &t.counters.streamPunct
	if typ == WallClockTime {
		counter = &t.counters.wallPunct
	}
	for _, s := range due {
		if s.cancelled {
			continue
		}
		s.advance(now)
		counter.Add(1)
		t.hasMeta = false
		t.curTime = now
		if err := s.fn(now); err != nil {
			ec := ErrorContext{TaskID: t.id, Node: s.node, Punctuation: true}
			if herr := t.handle(t.cfg.OnProcessingError, ec, wrapProcessing(s.node, err), &t.counters.badProcess); herr != nil {
				return herr
			}
		}
	}
	return nil
}

// schedule registers a punctuator for node.
func (t *Task) schedule(node string, interval time.Duration, typ PunctuationType, p Punctuator) (func(), error) {
	if t.global {
		return nil, fmt.Errorf("runtime: processor %q: global store processors cannot schedule punctuators", node)
	}
	if interval < time.Millisecond {
		return nil, fmt.Errorf("runtime: processor %q: punctuation interval %v is below 1ms", node, interval)
	}
	if p == nil {
		return nil, fmt.Errorf("runtime: processor %q: nil punctuator", node)
	}
	s := &schedule{node: node, interval: interval.Milliseconds(), typ: typ, fn: p}
	switch typ {
	case StreamTime:
		s.next = 0
	case WallClockTime:
		s.next = saturatingAdd(t.now(), s.interval)
	default:
		return nil, fmt.Errorf("runtime: processor %q: unknown punctuation type %d", node, typ)
	}
	t.punctSeq++
	s.seq = t.punctSeq
	t.puncts = append(t.puncts, s)
	return func() { s.cancelled = true }, nil
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
