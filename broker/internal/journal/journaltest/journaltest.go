// Package journaltest holds the journal owners' test helpers for fixtures: log files
// written by an earlier version of an owner, kept under testdata, which data dirs of
// that version make a promise to keep loading.
package journaltest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the journal fixtures under testdata")

// Compare checks that the logs written, by fixture path, are the fixtures byte for
// byte; with -update it rewrites the fixtures instead, which only a new fixture may
// need: an old one is what old data dirs hold.
func Compare(t testing.TB, written map[string][]byte) {
	t.Helper()
	for path, got := range written {
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: wrote\n%x\nwant\n%x", path, got, want)
		}
	}
}

// Dir returns a new data dir holding the fixture as file, and the fixture's bytes.
func Dir(t testing.TB, fixture, file string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, data
}
