package state_test

import (
	"fmt"

	"github.com/eddy-io/eddy/serde"
	"github.com/eddy-io/eddy/state"
)

func ExampleKeyValueStore() {
	p := state.NewMemoryProvider()
	defer p.Close()
	engine, err := p.Open("0_0", "counts")
	if err != nil {
		panic(err)
	}
	counts := state.NewKeyValueStore("counts", engine, serde.String(), serde.Int64())
	defer counts.Close()

	for _, word := range []string{"kafka", "streams", "kafka", "go"} {
		n, _, err := counts.Get(word)
		if err != nil {
			panic(err)
		}
		if err := counts.Put(word, n+1); err != nil {
			panic(err)
		}
	}
	it, err := counts.PrefixScan("k")
	if err != nil {
		panic(err)
	}
	defer it.Close()
	for it.Next() {
		fmt.Println(it.Key(), it.Value())
	}
	if err := it.Err(); err != nil {
		panic(err)
	}
	// Output:
	// kafka 2
}

// A cached, logged store passes one update per key down on each commit: the changelog
// gets the last value, and the flush listener gets it with the value it replaces.
func ExampleWithCaching() {
	p := state.NewMemoryProvider()
	defer p.Close()
	engine, err := p.Open("0_0", "totals")
	if err != nil {
		panic(err)
	}
	changelog := state.ChangelogSinkFunc(func(key, value []byte) error {
		fmt.Printf("changelog %s\n", key)
		return nil
	})
	totals := state.NewKeyValueStore("totals", engine, serde.String(), serde.Int64(),
		state.WithCaching(1<<20), state.WithLogging(changelog))
	defer totals.Close()
	totals.SetFlushListener(func(key string, newValue, oldValue *int64) error {
		fmt.Printf("forward %s: %d (was %v)\n", key, *newValue, oldValue)
		return nil
	})

	for _, v := range []int64{1, 2, 3} {
		if err := totals.Put("user-1", v); err != nil {
			panic(err)
		}
	}
	if err := totals.Commit(map[string]int64{"app-totals-changelog-0": 1}); err != nil {
		panic(err)
	}
	// Output:
	// changelog user-1
	// forward user-1: 3 (was <nil>)
}

func ExampleWindowStore() {
	p := state.NewMemoryProvider()
	defer p.Close()
	engine, err := p.Open("0_0", "clicks-per-minute")
	if err != nil {
		panic(err)
	}
	clicks, err := state.NewWindowStore("clicks-per-minute", engine, serde.String(), serde.Int64(),
		state.WindowConfig{WindowSize: 60_000, Retention: 3_600_000})
	if err != nil {
		panic(err)
	}
	defer clicks.Close()

	for _, start := range []int64{0, 60_000, 120_000} {
		if err := clicks.Put("page-a", start/1000, start); err != nil {
			panic(err)
		}
	}
	it, err := clicks.Fetch("page-a", 60_000, 180_000)
	if err != nil {
		panic(err)
	}
	defer it.Close()
	for it.Next() {
		w := it.Key()
		fmt.Printf("%s [%d, %d): %d\n", w.Key, w.Start, w.End, it.Value())
	}
	// Output:
	// page-a [60000, 120000): 60
	// page-a [120000, 180000): 120
}

// Merging sessions: a record at time t with inactivity gap g joins every session that
// FindSessions(key, t-g, t+g) returns.
func ExampleSessionStore_FindSessions() {
	p := state.NewMemoryProvider()
	defer p.Close()
	engine, err := p.Open("0_0", "sessions")
	if err != nil {
		panic(err)
	}
	sessions, err := state.NewSessionStore("sessions", engine, serde.String(), serde.Int64(),
		state.SessionConfig{Retention: 86_400_000})
	if err != nil {
		panic(err)
	}
	defer sessions.Close()
	put := func(start, end, count int64) {
		if err := sessions.Put(serde.Windowed[string]{Key: "u", Start: start, End: end}, count); err != nil {
			panic(err)
		}
	}
	put(0, 1000, 2)
	put(5000, 6000, 3)

	const gap, t = 3000, 3500
	it, err := sessions.FindSessions("u", t-gap, t+gap)
	if err != nil {
		panic(err)
	}
	defer it.Close()
	for it.Next() {
		fmt.Printf("merge [%d, %d] count %d\n", it.Key().Start, it.Key().End, it.Value())
	}
	// Output:
	// merge [0, 1000] count 2
	// merge [5000, 6000] count 3
}
