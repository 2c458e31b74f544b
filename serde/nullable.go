package serde

// Nullable wraps inner so that null has a Go value: a nil *T encodes to nil bytes (a
// tombstone) and nil bytes decode to a nil *T. Any other value goes through inner; when
// inner encodes a value to nil bytes (Bytes does for a nil slice), Nullable returns empty
// bytes instead, so that only a nil pointer ever becomes a tombstone.
func Nullable[T any](inner Serde[T]) Serde[*T] { return nullable[T]{inner} }

type nullable[T any] struct{ inner Serde[T] }

func (n nullable[T]) Encode(v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := n.inner.Encode(*v)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func (n nullable[T]) Decode(b []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	v, err := n.inner.Decode(b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
