package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAppRSSChildBadSpec checks that the child reports a spec it cannot read as an
// error line and a failing exit code rather than a result.
func TestAppRSSChildBadSpec(t *testing.T) {
	var out bytes.Buffer
	if code := runAppRSSChild("{", &out); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(out.String(), "err spec:") {
		t.Errorf("output %q, want an err line", out.String())
	}
}

// TestAppRSSSectionSmall runs the measurement on a small input, the broker and the App
// in child processes (this test binary): the child must see the whole input committed
// and report both readings beside the goal.
func TestAppRSSSectionSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and an eddy application")
	}
	defer func(n int) { appRSSPerPartition = n }(appRSSPerPartition)
	appRSSPerPartition = 20

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	child, err := startAppBroker(ctx, filepath.Join(dir, "broker"))
	if err != nil {
		t.Fatal(err)
	}
	defer child.close()
	var md strings.Builder
	if err := appRSSSection(ctx, appEnv{addr: child.addr, dir: dir}, &md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| process started, no App |", "| 64 tasks, all 1,280 input records processed and committed |", "Goal (issues 3 and 5)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}
