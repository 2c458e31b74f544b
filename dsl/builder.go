package dsl

import (
	"errors"
	"fmt"

	"github.com/eddy-io/eddy/runtime"
)

var (
	// ErrSerdeRequired is wrapped by the Build error of a topology that must encode
	// records somewhere (a sink, a repartition topic, a store) for which no serde was
	// given and none is known from upstream.
	ErrSerdeRequired = errors.New("dsl: serde required")
	// ErrInvalidOption is wrapped by the Build error of an operator given more than one
	// options value of a kind, a Materialized of other types than its table's, or
	// options that contradict each other.
	ErrInvalidOption = errors.New("dsl: invalid option")
	// ErrBuilt is wrapped by the error of an operator added after Build: the topology
	// Build returned is final.
	ErrBuilt = errors.New("dsl: builder already built")
	// ErrForeignBuilder is wrapped by the Build error of an operator that combines
	// streams or tables of two different builders.
	ErrForeignBuilder = errors.New("dsl: stream or table of another builder")
)

// Builder collects a topology operator by operator. Operators never fail on the spot:
// the first call that cannot work records an error and Build returns all of them, so a
// topology reads as one fluent chain.
//
// A Builder is not safe for concurrent use; a topology is built by one goroutine.
type Builder struct {
	top *runtime.Topology
	// index numbers generated processor names in order of creation, as Kafka Streams
	// does; processor names carry no state, so renumbering them is harmless.
	index int
	// ordinals numbers generated store and internal topic names per kind, so that an
	// operator of another kind (a Filter, say) never renames them. See the package
	// documentation, "Names".
	ordinals map[string]int
	// repartitioned maps each repartition topic's base name to the node its sink
	// reads, so a second aggregation of the same grouping reuses the topic.
	repartitioned map[string]string
	// windowed holds each windowed aggregation processor's windows, for Suppress, and
	// its late-record count, for DroppedLateRecords.
	windowed map[string]*windowedNode
	errs     []error
	built    bool
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{top: runtime.NewTopology(), ordinals: map[string]int{}, repartitioned: map[string]string{}, windowed: map[string]*windowedNode{}}
}

// Build returns the compiled topology, validated, or every error the operators
// recorded. After Build the builder accepts no more operators.
func (b *Builder) Build() (*runtime.Topology, error) {
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	if !b.built {
		if err := b.top.Validate(); err != nil {
			return nil, fmt.Errorf("dsl: %w", err)
		}
		b.built = true
	}
	return b.top, nil
}

// AddStateStore adds a store that Process and ProcessValues processors name in
// Processed.Stores, as Kafka Streams' StreamsBuilder.addStateStore.
func (b *Builder) AddStateStore(sb runtime.StoreBuilder) {
	b.do(func() error { return b.top.AddStateStore(sb) })
}

// do applies one change to the topology, or records why it cannot.
func (b *Builder) do(f func() error) {
	if b.built {
		b.errs = append(b.errs, ErrBuilt)
		return
	}
	if err := f(); err != nil {
		b.errs = append(b.errs, err)
	}
}

// fail records an error found by an operator.
func (b *Builder) fail(err error) { b.errs = append(b.errs, err) }

// processorName returns explicit if set, else Kafka's generated name for kind, like
// KSTREAM-FILTER-0000000003.
func (b *Builder) processorName(explicit, kind string) string {
	if explicit != "" {
		return explicit
	}
	n := fmt.Sprintf("%s-%010d", kind, b.index)
	b.index++
	return n
}

// suffixed returns named with suffix, as Kafka Streams names the several processors of
// one operator given a Named, or "" (a generated name) without one.
func suffixed(named, suffix string) string {
	if named == "" {
		return ""
	}
	return named + suffix
}

// storeName returns explicit if set, else a generated store name for kind numbered
// within that kind only, like KSTREAM-AGGREGATE-STATE-STORE-0000000000.
func (b *Builder) storeName(explicit, kind string) string {
	if explicit != "" {
		return explicit
	}
	n := fmt.Sprintf("%s-STATE-STORE-%010d", kind, b.ordinals[kind])
	b.ordinals[kind]++
	return n
}

// topicName returns explicit if set, else a generated internal topic base name for
// kind numbered within that kind, like KSTREAM-REPARTITION-0000000000.
func (b *Builder) topicName(explicit, kind string) string {
	if explicit != "" {
		return explicit
	}
	n := fmt.Sprintf("%s-%010d", kind, b.ordinals[kind])
	b.ordinals[kind]++
	return n
}

// named returns the single Named in opts, or "" and an error for more than one.
func (b *Builder) named(op string, opts []Named) string {
	return string(option(b, op, opts))
}

// option returns the single options value in opts, its zero value when there is none,
// and records an error when there are more: options are variadic only to be optional.
func option[T any](b *Builder, op string, opts []T) T {
	var zero T
	switch len(opts) {
	case 0:
		return zero
	case 1:
		return opts[0]
	default:
		b.fail(fmt.Errorf("%w: %s takes at most one options value, got %d", ErrInvalidOption, op, len(opts)))
		return opts[0]
	}
}

// sameBuilder records an error when other belongs to another builder.
func (b *Builder) sameBuilder(op string, other *Builder) bool {
	if other != b {
		b.fail(fmt.Errorf("%w: %s", ErrForeignBuilder, op))
		return false
	}
	return true
}

// addProcessor adds a processor node under parents.
func addProcessor[KIn, VIn, KOut, VOut any](b *Builder, name string, supplier func() runtime.Processor[KIn, VIn, KOut, VOut], parents ...string) {
	b.do(func() error { return b.top.AddProcessor(name, supplier, parents...) })
}
