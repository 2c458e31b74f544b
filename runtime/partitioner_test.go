package runtime_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/runtime"
)

// DefaultPartition must agree with the producers that write eddy's topics; franz-go's
// default partitioner hashes keys with Kafka's murmur2.
func TestDefaultPartitionMatchesKafka(t *testing.T) {
	kafka := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	keys := [][]byte{{}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("abcde"), []byte("user-42"), {0xff, 0x80, 0x00, 0x7f, 0x01}}
	for i := range 200 {
		keys = append(keys, fmt.Appendf(nil, "key-%d", i*7919))
	}
	for _, n := range []int32{1, 3, 12, 100} {
		for _, k := range keys {
			want := int32(kafka.Partition(&kgo.Record{Key: k}, int(n)))
			if got := runtime.DefaultPartition(k, n); got != want {
				t.Fatalf("DefaultPartition(%q, %d) = %d, franz-go says %d", k, n, got, want)
			}
		}
	}
}

func TestDefaultPartitionKnownValues(t *testing.T) {
	// Values from Kafka's own Utils.murmur2 test vectors, taken positive and modulo 100.
	pos := func(h int32) int32 { return (h & 0x7fffffff) % 100 }
	tests := []struct {
		key  string
		want int32
	}{
		{"21", pos(-973932308)},
		{"foobar", pos(-790332482)},
		{"a-little-bit-long-string", pos(-985981536)},
		{"a-little-bit-longer-string", pos(-1486304829)},
		{"abc", pos(479470107)},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", pos(-58897971)},
	}
	for _, tt := range tests {
		if got := runtime.DefaultPartition([]byte(tt.key), 100); got != tt.want {
			t.Errorf("DefaultPartition(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	if got := runtime.DefaultPartition(nil, 10); got != -1 {
		t.Errorf("nil key: %d, want -1", got)
	}
	if got := runtime.DefaultPartition([]byte("k"), 0); got != -1 {
		t.Errorf("no partitions: %d, want -1", got)
	}
}
