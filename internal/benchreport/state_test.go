package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestStateChild runs every state measurement in-process on a small workload: each
// must report its figures, and a bad spec must fail with a message, not a panic.
func TestStateChild(t *testing.T) {
	for _, tc := range []struct {
		spec  stateChildSpec
		check func(stateResult) bool
	}{
		{stateChildSpec{Kind: stateOps, Target: "raw", Keys: 2000}, func(r stateResult) bool { return r.Put > 0 && r.Get > 0 && r.Range > 0 }},
		{stateChildSpec{Kind: stateOps, Target: "typed", Keys: 2000}, func(r stateResult) bool { return r.Put > 0 && r.Get > 0 && r.Range > 0 }},
		{stateChildSpec{Kind: stateOps, Target: "typed-cache", Keys: 2000}, func(r stateResult) bool { return r.Put > 0 && r.Get > 0 && r.Range > 0 }},
		{stateChildSpec{Kind: stateRestore, Target: "raw", Keys: 25_000, Shuffled: true}, func(r stateResult) bool { return r.Restore > 0 }},
		{stateChildSpec{Kind: stateRestore, Target: "raw-32MiB", Keys: 25_000}, func(r stateResult) bool { return r.Restore > 0 }},
		{stateChildSpec{Kind: stateRestore, Target: "engine", Keys: 25_000}, func(r stateResult) bool { return r.Restore > 0 }},
		{stateChildSpec{Kind: stateRSS, Keys: 10}, func(r stateResult) bool {
			return len(r.RSS) == 3 && r.RSS[2].VmRSS > 0 && r.RSS[2].Goroutines > r.RSS[0].Goroutines
		}},
	} {
		t.Run(tc.spec.Kind+"/"+tc.spec.Target, func(t *testing.T) {
			tc.spec.Dir = t.TempDir()
			spec, _ := json.Marshal(tc.spec)
			var out bytes.Buffer
			if code := runStateChild(string(spec), &out); code != 0 {
				t.Fatalf("exit %d: %s", code, out.String())
			}
			body, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "result ")
			if !ok {
				t.Fatalf("no result line: %q", out.String())
			}
			var res stateResult
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatal(err)
			}
			if !tc.check(res) {
				t.Fatalf("missing figures: %+v", res)
			}
		})
	}
	for _, bad := range []string{`{"kind":"ops","target":"nope"}`, `{"kind":"nope"}`, `not json`} {
		var out bytes.Buffer
		if code := runStateChild(bad, &out); code == 0 || !strings.HasPrefix(out.String(), "err ") {
			t.Errorf("spec %s: exit %d, output %q", bad, code, out.String())
		}
	}
}
