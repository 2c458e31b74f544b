package dsl

import (
	"fmt"

	"github.com/eddy-io/eddy/runtime"
)

// BranchedStream is a stream being split into named branches: each record goes to the
// first branch whose predicate it satisfies, else to the default branch if there is
// one, else nowhere. Kafka Streams' BranchedKStream.
type BranchedStream[K, V any] struct {
	s      Stream[K, V]
	node   string
	prefix string
	// split is shared with the processor supplier, which reads it when tasks start,
	// after the branches are all added.
	split    *splitter[K, V]
	branches map[string]Stream[K, V]
	done     bool
}

// splitter is what the split processor needs: the predicates and their branch nodes,
// in order, and the default branch's node.
type splitter[K, V any] struct {
	preds    []func(K, V) bool
	children []string
	fallback string
}

// Split starts splitting the stream into branches. The optional Named names the split
// processor and is the prefix of every branch's name: branch "a" is "<prefix>a" in the
// returned map and names its processor. Without a prefix the map key is the bare
// branch name and the processor is "KSTREAM-BRANCH-0000000004-a".
func (s Stream[K, V]) Split(opts ...Named) *BranchedStream[K, V] {
	prefix := s.b.named("Split", opts)
	name := s.b.processorName(prefix, "KSTREAM-BRANCH")
	sp := &splitter[K, V]{}
	addProcessor(s.b, name, stateless(func(ctx runtime.ProcessorContext[K, V], r runtime.Record[K, V]) error {
		for i, p := range sp.preds {
			if p(r.Key, r.Value) {
				return ctx.ForwardTo(sp.children[i], r)
			}
		}
		if sp.fallback != "" {
			return ctx.ForwardTo(sp.fallback, r)
		}
		return nil
	}), s.node)
	return &BranchedStream[K, V]{s: s, node: name, prefix: prefix, split: sp, branches: map[string]Stream[K, V]{}}
}

// Branch adds the branch name of the records satisfying pred and not an earlier
// branch's predicate.
func (bs *BranchedStream[K, V]) Branch(name string, pred func(K, V) bool) *BranchedStream[K, V] {
	if child, ok := bs.branch("Branch", name); ok {
		bs.split.preds = append(bs.split.preds, pred)
		bs.split.children = append(bs.split.children, child)
	}
	return bs
}

// DefaultBranch adds the branch name of the records no predicate took, ends the split
// and returns the branches by name (prefix included).
func (bs *BranchedStream[K, V]) DefaultBranch(name string) map[string]Stream[K, V] {
	if child, ok := bs.branch("DefaultBranch", name); ok {
		bs.split.fallback = child
	}
	return bs.NoDefaultBranch()
}

// NoDefaultBranch ends the split, dropping the records no predicate took, and returns
// the branches by name (prefix included).
func (bs *BranchedStream[K, V]) NoDefaultBranch() map[string]Stream[K, V] {
	bs.done = true
	return bs.branches
}

// branch adds the pass-through node of branch name, named prefix+name, unless the
// split has ended or the name is taken.
func (bs *BranchedStream[K, V]) branch(op, name string) (string, bool) {
	b := bs.s.b
	full := bs.prefix + name
	node := full
	if bs.prefix == "" {
		node = bs.node + "-" + name // two unnamed splits may both have a branch "a"
	}
	switch {
	case bs.done:
		b.fail(fmt.Errorf("%w: %s %q after the split ended", ErrInvalidOption, op, name))
		return "", false
	case name == "":
		b.fail(fmt.Errorf("%w: %s without a name", ErrInvalidOption, op))
		return "", false
	}
	if _, dup := bs.branches[full]; dup {
		b.fail(fmt.Errorf("%w: branch %q added twice", ErrInvalidOption, full))
		return "", false
	}
	addProcessor(b, node, passThrough[K, V](), bs.node)
	bs.branches[full] = bs.s.next(node)
	return node, true
}
