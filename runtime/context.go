package runtime

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// procContext is the ProcessorContext of one node in one task, and the node's link to
// its children. Children are held as typed receivers, so forwarding a record is a
// direct call with no boxing.
type procContext[K, V any] struct {
	task       *Task
	name       string
	stores     map[string]Store
	children   []receiver[K, V]
	childNames []string
}

// receiver is a node that takes Record[K, V] from its parents.
type receiver[K, V any] interface {
	receive(r Record[K, V]) error
}

func (c *procContext[K, V]) nodeName() string { return c.name }

// connect checks that every child takes what this node forwards; Topology has checked
// the types already, so a failure here is a bug in the runtime.
func (c *procContext[K, V]) connect(children []builtNode) error {
	for _, ch := range children {
		r, ok := ch.(receiver[K, V])
		if !ok {
			return invalid("node %q cannot take the records of %q", ch.nodeName(), c.name)
		}
		c.children = append(c.children, r)
		c.childNames = append(c.childNames, ch.nodeName())
	}
	return nil
}

// Forward sends r to every child in the order they were added.
func (c *procContext[K, V]) Forward(r Record[K, V]) error {
	for _, ch := range c.children {
		if err := ch.receive(r); err != nil {
			return err
		}
	}
	return nil
}

// ForwardTo sends r to the child named child only.
func (c *procContext[K, V]) ForwardTo(child string, r Record[K, V]) error {
	i := slices.Index(c.childNames, child)
	if i < 0 {
		return fmt.Errorf("%w: %q is not a child of %q", ErrUnknownNode, child, c.name)
	}
	return c.children[i].receive(r)
}

// Schedule registers p with the task; see Task for when punctuators fire.
func (c *procContext[K, V]) Schedule(interval time.Duration, typ PunctuationType, p Punctuator) (func(), error) {
	return c.task.schedule(c.name, interval, typ, p)
}

// Store returns a store connected to this processor, or a global store.
func (c *procContext[K, V]) Store(name string) (any, error) {
	if s, ok := c.stores[name]; ok {
		return s, nil
	}
	if s, ok := c.task.globalStore(name); ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %q is not connected to processor %q", ErrUnknownStore, name, c.name)
}

func (c *procContext[K, V]) RecordMetadata() (RecordMetadata, bool) {
	return c.task.meta, c.task.hasMeta
}

func (c *procContext[K, V]) TaskID() TaskID        { return c.task.id }
func (c *procContext[K, V]) StreamTime() int64     { return c.task.streamTime }
func (c *procContext[K, V]) WallClockTime() int64  { return c.task.now() }
func (c *procContext[K, V]) ApplicationID() string { return c.task.appID }
func (c *procContext[K, V]) LateRecordDropped()    { c.task.counters.late.Add(1) }

// GetStore returns the store name from ctx (a ProcessorContext or a Task) as S, for
// example GetStore[*state.KeyValueStore[string, int64]](ctx, "counts").
func GetStore[S any](ctx interface{ Store(string) (any, error) }, name string) (S, error) {
	var zero S
	s, err := ctx.Store(name)
	if err != nil {
		return zero, err
	}
	typed, ok := s.(S)
	if !ok {
		return zero, fmt.Errorf("%w: store %q is a %T, not a %T", ErrUnknownStore, name, s, zero)
	}
	return typed, nil
}

// nodeError names the node where processing failed; the outermost node wins, so a
// failure deep in a chain is reported where it happened.
type nodeError struct {
	node string
	err  error
}

func (e *nodeError) Error() string { return fmt.Sprintf("node %q: %v", e.node, e.err) }
func (e *nodeError) Unwrap() error { return e.err }

// wrapNode attaches node to err unless a node deeper down did already.
func wrapNode(node string, err error) error {
	if err == nil {
		return nil
	}
	var ne *nodeError
	if errors.As(err, &ne) {
		return err
	}
	return &nodeError{node: node, err: err}
}

// wrapProcessing marks err as a processing failure at node.
func wrapProcessing(node string, err error) error {
	return fmt.Errorf("%w: %w", ErrProcessing, wrapNode(node, err))
}
