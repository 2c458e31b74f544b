package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// answerOnce calls answer once per distinct key of items, in request order. duplicated is
// set for a key named more than once: Kafka answers such a name once, with
// INVALID_REQUEST, and acts on none of its entries.
func answerOnce[T any, K comparable](items []T, key func(T) K, answer func(item T, duplicated bool)) {
	counts := make(map[K]int, len(items))
	for _, it := range items {
		counts[key(it)]++
	}
	for _, it := range items {
		k := key(it)
		n := counts[k]
		if n == 0 {
			continue
		}
		counts[k] = 0
		answer(it, n > 1)
	}
}

// topicNamedTwice is the answer to a topic named more than once in one request.
func topicNamedTwice(topic string) (int16, *string) {
	return kerr.InvalidRequest.Code, kmsg.StringPtr(fmt.Sprintf("topic %q is named more than once in the request", topic))
}
