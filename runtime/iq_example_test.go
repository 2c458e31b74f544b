package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/eddy-io/eddy/dsl"
	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/serde"
)

// Interactive queries on a word count: each instance advertises where its query
// endpoint listens, reads the counts its own tasks hold with a typed store, asks
// which instance owns any other word, and serves every word over HTTP, forwarding to
// the owner. It needs a broker at localhost:9092, so it is compiled, not run.
func ExampleApp_QueryKeyValueStore() {
	b := dsl.NewBuilder()
	b.Stream("lines", dsl.Consumed[string, string]{Keys: serde.String(), Values: serde.String()}).
		FlatMapValues(strings.Fields).
		GroupBy(func(_, word string) string { return word }).
		Count(dsl.Materialized[string, int64]{Name: "counts"}).
		ToStream().
		To("word-counts")
	top, err := b.Build()
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	app, err := runtime.New(top, runtime.Config{
		ApplicationID:     "word-count",
		BootstrapServers:  []string{"localhost:9092"},
		StateDir:          "/tmp/eddy",
		ApplicationServer: ln.Addr().String(), // the other instances forward here
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go app.Run(ctx)

	// GET /stores/counts/keys/{word} and /stores/counts/range?from=&to= on any instance.
	h := runtime.NewQueryHandler(app, runtime.QueryOptions{})
	if err := runtime.RegisterKeyValueQuery[string, int64](h, "counts", serde.String(), func(s string) (string, error) { return s, nil }); err != nil {
		panic(err)
	}
	go h.Serve(ctx, ln)

	// The typed API reads this instance's tasks; KeyOwner names the instance holding
	// any key.
	counts, err := app.QueryKeyValueStore[string, int64]("counts", serde.String())
	if err != nil {
		panic(err)
	}
	n, found, err := counts.Get("kafka")
	switch {
	case errors.Is(err, runtime.ErrKeyNotLocal):
		owner, _ := app.KeyOwner("counts", "kafka", serde.String())
		fmt.Println("ask", owner)
	case errors.Is(err, runtime.ErrStoreNotAvailable):
		fmt.Println("rebalancing: ask again later")
	case err == nil && found:
		fmt.Println("kafka:", n)
	}
}
