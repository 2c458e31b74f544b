package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv makes TestCrashWriter the child of TestBadgerCrash: it holds the name of
// the case to run and its directory, and the child writes there until it is killed.
const crashEnv = "EDDY_STATE_CRASH"

// crashCase is one way of writing that the crash test kills at random moments.
type crashCase struct {
	name string
	opts BadgerOptions
	// restoreEvery makes every n-th round a Restore instead of Puts and a Commit.
	restoreEvery int64
	// mustRestoreMode checks that each Restore switched the engine to restore mode.
	mustRestoreMode bool
}

var crashCases = []crashCase{
	// The overlay spills every few rounds, so kills land while Badger holds uncommitted
	// versions that reopening must roll back.
	{name: "commit", opts: BadgerOptions{MaxPendingBytes: 16 << 10}, restoreEvery: 4},
	// Tiny memtables make every Restore of a round (about 5 KiB) enter restore mode,
	// and the Commit after it leave it.
	{name: "restore-mode", opts: BadgerOptions{MemTableSize: 16 << 10, MaxPendingBytes: 16 << 10}, restoreEvery: 2, mustRestoreMode: true},
}

const crashKeysPerRound = 50

// crashRoundKeys are the keys round r writes; round r also deletes round r-3's keys,
// so the state after round n is rounds n-2..n plus "last".
func crashRoundKeys(r int64) []string {
	keys := make([]string, crashKeysPerRound)
	for j := range keys {
		keys[j] = fmt.Sprintf("k/%08d/%03d", r, j)
	}
	return keys
}

func crashValue(key string) string { return key + "/" + string(make([]byte, 60)) }

// crashExpected is the content of the store after round n committed.
func crashExpected(n int64) []string {
	var want []string
	for r := max(1, n-2); r <= n; r++ {
		for _, k := range crashRoundKeys(r) {
			want = append(want, k+"="+crashValue(k))
		}
	}
	if n > 0 {
		want = append(want, "last="+strconv.FormatInt(n, 10))
	}
	return want
}

// TestCrashWriter is not a test on its own: run by TestBadgerCrash with crashEnv set,
// it commits round after round until it is killed.
func TestCrashWriter(t *testing.T) {
	name, dir, ok := strings.Cut(os.Getenv(crashEnv), "=")
	if !ok {
		t.Skip("child process of TestBadgerCrash")
	}
	i := slices.IndexFunc(crashCases, func(c crashCase) bool { return c.name == name })
	if i < 0 {
		t.Fatalf("unknown crash case %q", name)
	}
	c := crashCases[i]
	p, err := NewBadgerProvider(dir, c.opts)
	noErr(t, err)
	e, err := p.Open("0_0", "crash")
	noErr(t, err)
	off, err := e.CommittedOffsets()
	noErr(t, err)
	for r := off["c"] + 1; ; r++ {
		offsets := map[string]int64{"c": r}
		if r%c.restoreEvery == 0 {
			var batch []KV
			for _, k := range crashRoundKeys(r - 3) {
				batch = append(batch, KV{Key: []byte(k)})
			}
			for _, k := range crashRoundKeys(r) {
				batch = append(batch, KV{Key: []byte(k), Value: []byte(crashValue(k))})
			}
			batch = append(batch, KV{Key: []byte("last"), Value: []byte(strconv.FormatInt(r, 10))})
			noErr(t, e.(Restorer).Restore(batch, offsets))
			if c.mustRestoreMode && !e.(*badgerEngine).restoring {
				t.Fatal("the batch did not enter restore mode")
			}
			continue
		}
		noErr(t, e.DeletePrefix(fmt.Appendf(nil, "k/%08d/", r-3)))
		for _, k := range crashRoundKeys(r) {
			noErr(t, e.Put([]byte(k), []byte(crashValue(k))))
		}
		noErr(t, e.Put([]byte("last"), []byte(strconv.FormatInt(r, 10))))
		noErr(t, e.Commit(offsets))
	}
}

// TestBadgerCrash kills a writing child process with SIGKILL at random moments and
// checks after each kill that the store holds exactly the data of the round its
// committed offsets name.
func TestBadgerCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	for _, c := range crashCases {
		t.Run(c.name, func(t *testing.T) { crashAndCheck(t, c) })
	}
}

func crashAndCheck(t *testing.T, c crashCase) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var last int64
	for kill := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+c.name+"="+dir)
		out, err := os.CreateTemp(t.TempDir(), "child")
		noErr(t, err)
		cmd.Stdout, cmd.Stderr = out, out
		noErr(t, cmd.Start())
		time.Sleep(time.Duration(150+rng.IntN(350)) * time.Millisecond)
		noErr(t, cmd.Process.Kill())
		_ = cmd.Wait() // the error reports the kill; ProcessState tells the rest
		if cmd.ProcessState.Exited() {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("child exited by itself (%v):\n%s", cmd.ProcessState, log)
		}

		p, err := NewBadgerProvider(dir, c.opts)
		noErr(t, err)
		e, err := p.Open("0_0", "crash")
		noErr(t, err)
		off, err := e.CommittedOffsets()
		noErr(t, err)
		n := off["c"]
		got := scan(t, e, nil, nil, false)
		want := crashExpected(n)
		if !slices.Equal(got, want) {
			t.Fatalf("kill %d: store does not match round %d: %d keys, want %d", kill, n, len(got), len(want))
		}
		if n < last {
			t.Fatalf("kill %d: committed round went back from %d to %d", kill, last, n)
		}
		t.Logf("kill %d: at committed round %d", kill, n)
		last = n
		noErr(t, p.Close())
	}
	if last == 0 {
		t.Fatal("the child never committed")
	}
}
