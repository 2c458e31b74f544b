package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeTransactions(t *testing.T) {
	e := newEnv(t, nil)
	pid, epoch := e.init("x")
	start := e.clock.Now()
	e.mustAdd("x", pid, epoch, tp("b", 1), tp("a", 3), tp("a", 1))
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{"x", "nope"}
	resp := e.c.DescribeTransactions(req)
	if len(resp.TransactionStates) != 2 {
		t.Fatalf("%d states", len(resp.TransactionStates))
	}
	x, nope := resp.TransactionStates[0], resp.TransactionStates[1]
	if x.ErrorCode != 0 || x.TransactionalID != "x" || x.State != "Ongoing" || x.ProducerID != pid ||
		x.ProducerEpoch != epoch || x.TimeoutMillis != 30_000 || x.StartTimestamp != start.UnixMilli() {
		t.Fatalf("x: %+v", x)
	}
	if len(x.Topics) != 2 || x.Topics[0].Topic != "a" || !slices.Equal(x.Topics[0].Partitions, []int32{1, 3}) ||
		x.Topics[1].Topic != "b" || !slices.Equal(x.Topics[1].Partitions, []int32{1}) {
		t.Fatalf("topics %+v", x.Topics)
	}
	if nope.ErrorCode != kerr.TransactionalIDNotFound.Code || nope.TransactionalID != "nope" {
		t.Fatalf("unknown id: %+v", nope)
	}
}

func TestListTransactions(t *testing.T) {
	e := newEnv(t, nil)
	pidA, epochA := e.init("app-a")
	e.mustAdd("app-a", pidA, epochA, tp("t", 0)) // Ongoing since t0
	e.clock.advance(10 * time.Second)
	pidB, _ := e.init("app-b") // Empty
	pidC, epochC := e.init("other")
	e.mustAdd("other", pidC, epochC, tp("t", 1)) // Ongoing since t0+10s
	if code := e.end(3, "other", pidC, epochC, true); code != 0 {
		t.Fatal(code)
	}
	e.clock.advance(5 * time.Second)

	list := func(version int16, mod func(*kmsg.ListTransactionsRequest)) *kmsg.ListTransactionsResponse {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = version
		if mod != nil {
			mod(req)
		}
		return e.c.ListTransactions(req)
	}
	ids := func(resp *kmsg.ListTransactionsResponse) []string {
		var out []string
		for _, s := range resp.TransactionStates {
			out = append(out, s.TransactionalID+"/"+s.TransactionState)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		version int16
		mod     func(*kmsg.ListTransactionsRequest)
		want    []string
	}{
		{"all", 0, nil, []string{"app-a/Ongoing", "app-b/Empty", "other/CompleteCommit"}},
		{"by state", 0, func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Ongoing", "Empty"} },
			[]string{"app-a/Ongoing", "app-b/Empty"}},
		{"by producer", 0, func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{pidB, pidC} },
			[]string{"app-b/Empty", "other/CompleteCommit"}},
		{"by duration", 1, func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 10_000 },
			[]string{"app-a/Ongoing", "app-b/Empty"}},
		{"duration ignored before v1", 0, func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 10_000 },
			[]string{"app-a/Ongoing", "app-b/Empty", "other/CompleteCommit"}},
		{"by pattern", 2, func(r *kmsg.ListTransactionsRequest) { r.TransactionalIDPattern = kmsg.StringPtr("^app-") },
			[]string{"app-a/Ongoing", "app-b/Empty"}},
		{"only unknown states", 0, func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Bogus"} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(list(tc.version, tc.mod)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	resp := list(0, func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Bogus", "Empty"} })
	if !slices.Equal(resp.UnknownStateFilters, []string{"Bogus"}) || len(resp.TransactionStates) != 1 {
		t.Fatalf("unknown filter: %+v", resp)
	}
	resp = list(2, func(r *kmsg.ListTransactionsRequest) { r.TransactionalIDPattern = kmsg.StringPtr("(") })
	if resp.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("bad pattern: %d", resp.ErrorCode)
	}
}
