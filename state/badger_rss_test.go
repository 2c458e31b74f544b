package state

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssEnv makes TestRSSChild measure in a process of its own; its value is the number
// of 100-byte values written per store.
const rssEnv = "EDDY_STATE_RSS_KEYS"

// rssBudget is the memory budget of 64 open stateful tasks from the package doc.
const rssBudget = 512 << 20

// TestBadgerRSS64Stores opens 64 Badger stores with the default options in a fresh
// process, writes into each and checks the process's resident memory against the
// budget. Set EDDY_STATE_RSS_KEYS to measure with more data (the doc's numbers).
func TestBadgerRSS64Stores(t *testing.T) {
	if isChild() {
		t.Skip("in the child")
	}
	if raceEnabled || testing.Short() {
		t.Skip("RSS is measured without -race and -short")
	}
	keys := os.Getenv(rssEnv)
	if keys == "" {
		keys = "2000"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rssEnv+"="+keys, "EDDY_STATE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var peak int64
	for line := range strings.Lines(string(out)) {
		if _, after, ok := strings.Cut(line, "RSS "); ok {
			t.Log(strings.TrimSpace(after))
			if i := strings.Index(after, "VmRSS="); i >= 0 {
				v, _ := strconv.ParseInt(strings.Fields(after[i+len("VmRSS="):])[0], 10, 64)
				peak = max(peak, v<<10)
			}
		}
	}
	if peak == 0 {
		t.Fatalf("child printed no measurement:\n%s", out)
	}
	if peak > rssBudget {
		t.Fatalf("64 stores use %d MiB, budget %d MiB", peak>>20, rssBudget>>20)
	}
}

func isChild() bool { return os.Getenv("EDDY_STATE_CHILD") != "" }

// TestRSSChild is the measuring half of TestBadgerRSS64Stores.
func TestRSSChild(t *testing.T) {
	if !isChild() {
		t.Skip("child process of TestBadgerRSS64Stores")
	}
	keys, err := strconv.Atoi(os.Getenv(rssEnv))
	noErr(t, err)
	p, err := NewBadgerProvider(t.TempDir(), BadgerOptions{})
	noErr(t, err)
	defer p.Close()
	report := func(stage string) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("RSS %-28s %s HeapInuse=%d kB goroutines=%d\n", stage, procStatus(t), ms.HeapInuse>>10, runtime.NumGoroutine())
	}
	start := time.Now()
	engines := make([]Engine, 64)
	for i := range engines {
		engines[i], err = p.Open(fmt.Sprintf("0_%d", i), "store")
		noErr(t, err)
	}
	report(fmt.Sprintf("64 open (%v)", time.Since(start).Round(time.Millisecond)))
	value := bytes.Repeat([]byte("v"), 100)
	start = time.Now()
	for i, e := range engines {
		for k := range keys {
			noErr(t, e.Put(fmt.Appendf(nil, "key-%d-%08d", i, k), value))
			if k%1000 == 999 {
				noErr(t, e.Commit(map[string]int64{"c": int64(k)}))
			}
		}
		noErr(t, e.Commit(map[string]int64{"c": int64(keys)}))
	}
	report(fmt.Sprintf("%d keys each (%v)", keys, time.Since(start).Round(time.Millisecond)))
	for i, e := range engines {
		it, err := e.Iterate(nil, nil, false)
		noErr(t, err)
		n := 0
		for it.Next() {
			n++
		}
		noErr(t, it.Close())
		if n != keys {
			t.Fatalf("store %d holds %d keys, want %d", i, n, keys)
		}
	}
	report("after a full scan of each")
}

// procStatus returns VmRSS and its split from /proc/self/status, in kB.
func procStatus(t *testing.T) string {
	f, err := os.Open("/proc/self/status")
	noErr(t, err)
	defer f.Close()
	var parts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), ":")
		switch name {
		case "VmRSS", "RssAnon", "RssFile":
			parts = append(parts, name+"="+strings.Fields(val)[0])
		}
	}
	return strings.Join(parts, " ")
}
