package state

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".checkpoint")
	got, err := ReadCheckpoint(path)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v; want empty offsets", got, err)
	}
	for _, offsets := range []map[string]int64{
		{"app-counts-changelog-3": 1234, "weird name \"quoted\"\n": -1, "": 0},
		{"app-counts-changelog-3": 1300},
		{},
	} {
		noErr(t, WriteCheckpoint(path, offsets))
		got, err := ReadCheckpoint(path)
		noErr(t, err)
		if !maps.Equal(got, offsets) {
			t.Fatalf("read %v, wrote %v", got, offsets)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	noErr(t, err)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	noErr(t, WriteCheckpoint(good, map[string]int64{"t-0": 42}))
	raw, err := os.ReadFile(good)
	noErr(t, err)
	tests := map[string]string{
		"empty":          "",
		"truncated":      string(raw[:len(raw)/2]),
		"flipped digit":  strings.Replace(string(raw), "42", "43", 1),
		"no checksum":    strings.Join(strings.Split(string(raw), "\n")[:2], "\n") + "\n",
		"garbage":        "\x00\xff\x13 binary",
		"other format":   "0\n1\nt 0 42\n",
		"checksum only":  "crc 00000000\n",
		"bad crc format": strings.Replace(string(raw), "crc ", "crc x", 1),
	}
	for name, content := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		noErr(t, os.WriteFile(path, []byte(content), 0o644))
		if _, err := ReadCheckpoint(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
