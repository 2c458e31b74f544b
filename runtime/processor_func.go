package runtime

// Supplier returns a supplier of processors that call f, for AddProcessor:
//
//	top.AddProcessor("upper", ProcessorFunc[string, string, string, string](upper).Supplier(), "source")
func (f ProcessorFunc[KIn, VIn, KOut, VOut]) Supplier() func() Processor[KIn, VIn, KOut, VOut] {
	return func() Processor[KIn, VIn, KOut, VOut] { return &funcProcessor[KIn, VIn, KOut, VOut]{f: f} }
}

// funcProcessor is the Processor of a ProcessorFunc: it keeps the context Init gives.
type funcProcessor[KIn, VIn, KOut, VOut any] struct {
	f   ProcessorFunc[KIn, VIn, KOut, VOut]
	ctx ProcessorContext[KOut, VOut]
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Init(ctx ProcessorContext[KOut, VOut]) error {
	p.ctx = ctx
	return nil
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Process(r Record[KIn, VIn]) error {
	return p.f(p.ctx, r)
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Close() error { return nil }
