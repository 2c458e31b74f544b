package testdriver_test

import (
	"strconv"
	"testing"

	"github.com/eddy-io/eddy/runtime"
	"github.com/eddy-io/eddy/runtime/testdriver"
)

// BenchmarkPipeStateless pipes records through one stateless processor to a sink,
// each processed and committed before the next.
func BenchmarkPipeStateless(b *testing.B) {
	d := newDriver(b, passThrough(b, forward), testdriver.Config{})
	in, err := d.CreateInputTopic("in", strings(), strings())
	must(b, err)
	out, err := d.CreateOutputTopic("out", strings(), strings())
	must(b, err)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := in.PipeInput(keys[i%len(keys)], "value"); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			if _, err := out.ReadRecordsToList(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPipeCount pipes records through the repartition hop into a logged count
// over two partitions.
func BenchmarkPipeCount(b *testing.B) {
	d := newDriver(b, wordCount(b, runtime.StoreOptions{Logging: true}), testdriver.Config{Partitions: map[string]int32{"lines": 2}})
	in, err := d.CreateInputTopic("lines", strings(), strings())
	must(b, err)
	words := make([]string, 1024)
	for i := range words {
		words[i] = "word-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := in.PipeInput("user", words[i%len(words)]); err != nil {
			b.Fatal(err)
		}
	}
}
