package dsl

import "github.com/eddy-io/eddy/runtime"

// stateless returns the supplier of processors running f, which keep no state.
func stateless[KIn, VIn, KOut, VOut any](f func(ctx runtime.ProcessorContext[KOut, VOut], r runtime.Record[KIn, VIn]) error) func() runtime.Processor[KIn, VIn, KOut, VOut] {
	return runtime.ProcessorFunc[KIn, VIn, KOut, VOut](f).Supplier()
}

// passThrough returns the supplier of processors forwarding every record unchanged:
// the nodes that merge or name branches.
func passThrough[K, V any]() func() runtime.Processor[K, V, K, V] {
	return stateless(func(ctx runtime.ProcessorContext[K, V], r runtime.Record[K, V]) error {
		return ctx.Forward(r)
	})
}

// withKey returns r with key k, keeping value, timestamp and headers.
func withKey[K, V, K2 any](r runtime.Record[K, V], k K2) runtime.Record[K2, V] {
	return runtime.Record[K2, V]{Key: k, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
}
