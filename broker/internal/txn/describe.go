package txn

import (
	"cmp"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions reports the state of each requested transactional ID:
// TRANSACTIONAL_ID_NOT_FOUND for one the coordinator does not know.
func (c *Coordinator) DescribeTransactions(req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ErrorCode = c.describe(id, &st)
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

func (c *Coordinator) describe(id string, st *kmsg.DescribeTransactionsResponseTransactionState) int16 {
	t, err := c.lockTxn(id, false)
	if err != nil {
		return errorCode(err)
	}
	if t == nil {
		return kerr.TransactionalIDNotFound.Code
	}
	m := t.m.clone()
	t.mu.Unlock()
	st.State = m.state.String()
	st.TimeoutMillis = int32(m.timeout.Milliseconds())
	st.StartTimestamp = -1
	if !m.start.IsZero() {
		st.StartTimestamp = m.start.UnixMilli()
	}
	st.ProducerID = m.producerID
	st.ProducerEpoch = m.epoch
	for _, tp := range m.partitionList() {
		if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic = tp.Topic
			st.Topics = append(st.Topics, t)
		}
		last := &st.Topics[len(st.Topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return 0
}

// ListTransactions lists the transactional IDs matching every filter given: states
// (names the coordinator does not know are returned in UnknownStateFilters), producer
// IDs, v1's minimum running time (Kafka measures it from the transaction's start, and
// an ID with none always passes) and v2's transactional ID pattern (RE2 syntax).
func (c *Coordinator) ListTransactions(req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	var states map[state]bool
	for _, name := range req.StateFilters {
		s, ok := stateByName(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		if states == nil {
			states = map[state]bool{}
		}
		states[s] = true
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		pattern = re
	}
	// Filters by unknown states only match nothing.
	if len(req.StateFilters) > 0 && states == nil {
		return resp
	}
	now := c.opts.Now()
	for _, t := range c.snapshot() {
		t.mu.Lock()
		logged, m := t.logged && !t.removed, t.m
		t.mu.Unlock()
		switch {
		case !logged,
			states != nil && !states[m.state],
			len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.producerID),
			req.Version >= 1 && req.DurationFilterMillis >= 0 && !m.start.IsZero() &&
				now.Sub(m.start).Milliseconds() <= req.DurationFilterMillis,
			pattern != nil && !pattern.MatchString(t.id):
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID = t.id
		ts.ProducerID = m.producerID
		ts.TransactionState = m.state.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	slices.SortFunc(resp.TransactionStates, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		return cmp.Compare(a.TransactionalID, b.TransactionalID)
	})
	return resp
}
