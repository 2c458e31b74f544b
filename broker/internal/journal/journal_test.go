package journal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

var (
	errTestCorrupt = errors.New("test log corrupt")
	errTestClosed  = errors.New("test log closed")
)

// owner is a journal's owner for tests: its state is the payloads replayed and
// appended, and its snapshot the last keep of them.
type owner struct {
	j    *Journal
	got  [][]byte
	keep int
}

func (o *owner) snapshot(yield func([]byte) bool) {
	for _, p := range o.got[max(0, len(o.got)-o.keep):] {
		if !yield(p) {
			return
		}
	}
}

func testOptions(dir string, o *owner) Options {
	return Options{
		Dir: dir, File: "test.log", Magic: "testlog1", Sync: true, MinCompact: 1 << 10,
		Snapshot: o.snapshot, Logger: slog.New(slog.DiscardHandler),
		Owner: "test", Name: "test log", ErrCorrupt: errTestCorrupt, ErrClosed: errTestClosed,
	}
}

// open opens the journal in dir, failing the test on an error, and closes it at the end.
func open(t *testing.T, dir string, mod func(*Options)) *owner {
	t.Helper()
	o, err := tryOpen(dir, mod)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.j.Close() })
	return o
}

func tryOpen(dir string, mod func(*Options)) (*owner, error) {
	o := &owner{keep: 1}
	opts := testOptions(dir, o)
	if mod != nil {
		mod(&opts)
	}
	j, err := Open(opts, func(p []byte) error {
		if bytes.Equal(p, []byte("bad")) {
			return ErrBadRecord
		}
		o.got = append(o.got, p)
		return nil
	})
	o.j = j
	return o, err
}

// append logs payload, applies it and waits for it.
func (o *owner) append(t *testing.T, payload string) {
	t.Helper()
	o.j.Lock()
	seq, err := o.j.AppendLocked([]byte(payload))
	if err == nil {
		o.got = append(o.got, []byte(payload))
	}
	o.j.Unlock()
	if err == nil {
		err = o.j.Wait(t.Context(), seq)
	}
	if err != nil {
		t.Fatalf("append %q: %v", payload, err)
	}
}

// names are the payloads of the records from to to (excluded) that TestCompaction
// appends.
func names(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("record %03d", i))
	}
	return s
}

func (o *owner) payloads() string {
	var s []string
	for _, p := range o.got {
		s = append(s, string(p))
	}
	return fmt.Sprint(s)
}

func TestReplayInOrder(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	if o.j.Size() != int64(len("testlog1")) || o.j.Written() != 0 {
		t.Fatalf("new log: size %d, written %d", o.j.Size(), o.j.Written())
	}
	for _, p := range []string{"a", "bb", "ccc"} {
		o.append(t, p)
	}
	if o.j.Written() != 3 || o.j.Size() != int64(len("testlog1")+3*FrameOverhead+6) {
		t.Fatalf("after 3 records: size %d, written %d", o.j.Size(), o.j.Written())
	}
	if err := o.j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := open(t, dir, nil).payloads(); got != "[a bb ccc]" {
		t.Fatalf("replayed %s", got)
	}
}

func TestTornTailIsCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func([]byte) []byte
		want string
	}{
		{"intact", func(d []byte) []byte { return d }, "[a bb]"},
		{"torn header", func(d []byte) []byte { return append(d, 0, 0) }, "[a bb]"},
		{"torn payload", func(d []byte) []byte { return d[:len(d)-1] }, "[a]"},
		{"zero length", func(d []byte) []byte { return append(d, make([]byte, 16)...) }, "[a bb]"},
		{"bad CRC", func(d []byte) []byte { d[len(d)-1] ^= 1; return d }, "[a]"},
		{"length past the end", func(d []byte) []byte { return append(d, 0, 0, 0, 9, 0, 0, 0, 0, 'x') }, "[a bb]"},
		{"log torn while created", func(d []byte) []byte { return d[:3] }, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, nil)
			o.append(t, "a")
			o.append(t, "bb")
			o.j.Close()
			path := filepath.Join(dir, "test.log")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.tear(data), 0o644); err != nil {
				t.Fatal(err)
			}
			o = open(t, dir, nil)
			if got := o.payloads(); got != tc.want {
				t.Fatalf("replayed %s, want %s", got, tc.want)
			}
			// What is appended after the cut replays after what was kept.
			o.append(t, "c")
			o.j.Close()
			want := tc.want[:len(tc.want)-1] + " c]"
			if tc.want == "[]" {
				want = "[c]"
			}
			if got := open(t, dir, nil).payloads(); got != want {
				t.Fatalf("after an append: %s, want %s", got, want)
			}
		})
	}
}

func TestUntrustedLogs(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error // besides errTestCorrupt
	}{
		{"other magic", []byte("otherlog"), nil},
		{"short foreign file", []byte("x"), nil},
		{"undecodable record", appendFrame([]byte("testlog1"), []byte("bad")), ErrBadRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "test.log"), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := tryOpen(dir, nil)
			if !errors.Is(err, errTestCorrupt) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Open: %v, want %v and %v", err, errTestCorrupt, tc.want)
			}
		})
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.log")
	// A compaction's scratch file left by a crash is not the log.
	if err := os.WriteFile(path+".tmp", []byte("leftover"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := open(t, dir, func(o *Options) { o.MinCompact = 256 })
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover scratch file: %v", err)
	}
	o.keep = 2
	maxSize := int64(0)
	for i := range 100 {
		o.append(t, fmt.Sprintf("record %03d", i))
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != o.j.Size() {
			t.Fatalf("file has %d bytes, journal says %d", st.Size(), o.j.Size())
		}
		maxSize = max(maxSize, st.Size())
	}
	// Compacted whenever it reached 256 bytes, to the two records kept.
	if maxSize > 256+FrameOverhead+10 {
		t.Fatalf("log grew to %d bytes", maxSize)
	}
	o.j.Close()
	// The log holds the two records kept by the last compaction and those after it.
	o = open(t, dir, nil)
	if n := len(o.got); n < 2 || n >= 100 || o.payloads() != fmt.Sprint(names(100-n, 100)) {
		t.Fatalf("after compactions: %s", o.payloads())
	}

	// Rebase rewrites on demand, and counts the next compaction from the size after it.
	o.keep = 1
	if err := o.j.Rebase(true); err != nil {
		t.Fatal(err)
	}
	if o.j.Size() != int64(len("testlog1")+FrameOverhead+10) {
		t.Fatalf("after Rebase(true): %d bytes", o.j.Size())
	}
	o.append(t, "x")
	o.j.Close()
	if got := open(t, dir, nil).payloads(); got != "[record 099 x]" {
		t.Fatalf("after Rebase(true): %s", got)
	}
}

// The threshold stays where Rebase(false) put it, at twice the size, so a log far above
// MinCompact is not compacted on the next Wait.
func TestRebaseWithoutCompaction(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, func(o *Options) { o.MinCompact = 64 })
	o.keep = 1
	for i := range 3 {
		o.j.Lock()
		if _, err := o.j.AppendLocked(bytes.Repeat([]byte{byte('a' + i)}, 40)); err != nil {
			t.Fatal(err)
		}
		o.j.Unlock()
	}
	if err := o.j.Rebase(false); err != nil {
		t.Fatal(err)
	}
	size := o.j.Size()
	o.append(t, "d")
	if o.j.Size() != size+FrameOverhead+1 {
		t.Fatalf("compacted below twice the size at Rebase: %d bytes, was %d", o.j.Size(), size)
	}
}

func TestClosed(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	o.append(t, "a")
	o.j.Lock()
	seq, err := o.j.AppendLocked([]byte("b"))
	o.j.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	o.j.Lock()
	_, err = o.j.AppendLocked([]byte("c"))
	o.j.Unlock()
	if !errors.Is(err, errTestClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	// A record a Wait synced stays synced; one nobody waited for cannot be waited for.
	if err := o.j.Wait(t.Context(), seq-1); err != nil {
		t.Fatalf("Wait for a synced record: %v", err)
	}
	if err := o.j.Wait(t.Context(), seq); !errors.Is(err, errTestClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestConcurrentWaits(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, func(o *Options) { o.MinCompact = 2 << 10 })
	o.keep = 1 << 20
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := fmt.Appendf(nil, "w%d-%03d", w, i)
				o.j.Lock()
				seq, err := o.j.AppendLocked(p)
				if err == nil {
					o.got = append(o.got, p)
				}
				o.j.Unlock()
				if err == nil {
					err = o.j.Wait(t.Context(), seq)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := slices.Clone(o.got)
	o.j.Close()
	got := open(t, dir, nil).got
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("replayed %d records, not the %d written in their order", len(got), len(want))
	}
}
