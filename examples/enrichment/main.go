// Command enrichment is a stream-table join, end to end: it starts eddy's bundled
// broker in-process on a free local port, loads a table of customers, enriches a stream
// of orders with the customer's name (KStream-KTable left join), prints the enriched
// orders and exits.
//
//	go run ./examples/enrichment
//
// Only the orders trigger the join: each order is joined with the customer as the
// table holds it when the order is processed, so the program waits until the table has
// every customer (an interactive query) before producing the orders.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/internal/sandbox"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

var (
	// customers maps customer IDs to names.
	customers = [][2]string{{"c1", "Ada"}, {"c2", "Bob"}, {"c3", "Cy"}}
	// orders are keyed by customer ID, the table's key, so they need no repartition.
	orders = [][2]string{{"c1", "book"}, {"c2", "pen"}, {"c1", "ink"}, {"c4", "lamp"}, {"c3", "desk"}}
)

// timeout bounds the whole program, so a broken machine fails it instead of hanging.
const timeout = time.Minute

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "enrichment:", err)
		os.Exit(1)
	}
}

// topology enriches "orders" with the names in "customers", into "enriched-orders".
func topology() (*runtime.Topology, error) {
	strs := dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}
	b := dsl.NewBuilder()
	names := b.Table("customers", strs, dsl.Materialized[string, string]{Name: "customer-names"})
	b.Stream("orders", strs).
		LeftJoinTable(names, func(item string, name *string) string {
			if name == nil {
				return item + " for an unknown customer"
			}
			return item + " for " + *name
		}).
		To("enriched-orders")
	return b.Build()
}

func run(ctx context.Context, out io.Writer) (err error) {
	sb, err := sandbox.Start(ctx, "enrichment", out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sb.Close()) }()
	// The join's inputs are co-partitioned: the same partition count, keyed alike.
	if err := sb.CreateTopics(ctx, 2, "customers", "orders", "enriched-orders"); err != nil {
		return err
	}
	if err := produce(ctx, sb.Client, "customers", customers); err != nil {
		return err
	}

	top, err := topology()
	if err != nil {
		return err
	}
	app, err := sb.RunApp(ctx, "enrichment", top)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, app.Stop(ctx)) }()

	if err := waitForCustomers(ctx, app.App); err != nil {
		return err
	}
	if err := produce(ctx, sb.Client, "orders", orders); err != nil {
		return err
	}
	enriched, err := read(ctx, sb.Broker.Addr(), len(orders))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "enriched orders:")
	for _, e := range enriched {
		fmt.Fprintf(out, "  %s\n", e)
	}
	return nil
}

func produce(ctx context.Context, cl *kgo.Client, topic string, kvs [][2]string) error {
	var recs []*kgo.Record
	for _, kv := range kvs {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(kv[0]), Value: []byte(kv[1])})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce %s: %w", topic, err)
	}
	return nil
}

// waitForCustomers polls the table's store until it holds every customer.
func waitForCustomers(ctx context.Context, app *runtime.App) error {
	for {
		if n := loadedCustomers(app); n == len(customers) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("customers table never loaded: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// loadedCustomers counts the customers the table holds so far; a store not available
// yet (the application still starting) counts none.
func loadedCustomers(app *runtime.App) int {
	st, err := app.QueryKeyValueStore[string, string]("customer-names", serde.String())
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range customers {
		if _, found, err := st.Get(c[0]); err == nil && found {
			n++
		}
	}
	return n
}

// read returns n records of "enriched-orders" as "key: value", sorted.
func read(ctx context.Context, addr string, n int) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("enriched-orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got []string
	for len(got) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read enriched orders: got %d of %d: %w", len(got), n, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got = append(got, fmt.Sprintf("%s: %s", r.Key, r.Value))
		})
	}
	slices.SortFunc(got, strings.Compare)
	return got, nil
}
