package runtime

// DefaultPartition returns the partition Kafka's default partitioner picks for a key:
// murmur2 of the key bytes, made positive, modulo numPartitions. Producers of every
// Kafka client agree on it, so records with equal keys land together whoever writes
// them. A nil key has no hash (producers spread such records as they like) and, like
// numPartitions <= 0, gives -1.
func DefaultPartition(key []byte, numPartitions int32) int32 {
	if key == nil || numPartitions <= 0 {
		return -1
	}
	return int32(murmur2(key)&0x7fffffff) % numPartitions
}

// murmur2 is the 32-bit MurmurHash2 with Kafka's seed, over little-endian words.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
