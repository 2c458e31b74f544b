package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// writeLog fills a log in dir with batches of one record each and closes
// it, returning the size of the active segment after each batch.
func writeLog(t *testing.T, dir string, cfg Config, n int) {
	t.Helper()
	l, err := Open(dir, cfg, Options{Fsync: FsyncOS})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustAppend(t, l, recordsBatch(t, 1, int64(i), 100))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func activeSegment(t *testing.T, dir string) string {
	t.Helper()
	segs := segmentFiles(t, dir)
	return segs[len(segs)-1]
}

func TestRecoverCorruptTail(t *testing.T) {
	batchSize := int64(len(recordsBatch(t, 1, 0, 100)))
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantEnd int64
	}{
		{"intact", func(*testing.T, string) {}, 30},
		{"garbage appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("this is not a record batch, it is garbage of some length"))
			f.Close()
		}, 30},
		{"zeros appended", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()+4096)
		}, 30},
		{"torn last batch", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-batchSize/2)
		}, 29},
		{"flipped CRC byte", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var b [1]byte
			pos := st.Size() - batchSize + offCRC + 2
			f.ReadAt(b[:], pos)
			b[0] ^= 0x40
			f.WriteAt(b[:], pos)
			f.Close()
		}, 29},
		{"flipped payload byte in an earlier batch", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var b [1]byte
			pos := st.Size() - 3*batchSize + headerLen + 5
			f.ReadAt(b[:], pos)
			b[0] ^= 1
			f.WriteAt(b[:], pos)
			f.Close()
		}, 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			writeLog(t, dir, cfg, 30)
			tt.damage(t, activeSegment(t, dir))
			l := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
			if l.EndOffset() != tt.wantEnd || l.HighWatermark() != tt.wantEnd {
				t.Fatalf("end %d hw %d, want %d", l.EndOffset(), l.HighWatermark(), tt.wantEnd)
			}
			if got := len(readAll(t, l)); int64(got) != tt.wantEnd {
				t.Fatalf("read %d batches", got)
			}
			// Appends continue right after the last good batch.
			if info := mustAppend(t, l, recordsBatch(t, 1, 99, 100)); info.BaseOffset != tt.wantEnd {
				t.Fatalf("next append at %d", info.BaseOffset)
			}
			if got := len(readAll(t, l)); int64(got) != tt.wantEnd+1 {
				t.Fatalf("read %d batches after append", got)
			}
		})
	}
}

func TestRebuildIndexes(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"deleted", func(t *testing.T, dir string) {
			for _, pat := range []string{"*.index", "*.timeindex"} {
				m, _ := filepath.Glob(filepath.Join(dir, pat))
				for _, p := range m {
					os.Remove(p)
				}
			}
		}},
		{"truncated", func(t *testing.T, dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "*.index"))
			for _, p := range m {
				os.Truncate(p, 5)
			}
		}},
		{"zeroed", func(t *testing.T, dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
			for _, p := range m {
				st, _ := os.Stat(p)
				os.WriteFile(p, make([]byte, st.Size()), 0o644)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			writeLog(t, dir, cfg, 60)
			ref := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
			var want [][2]int64
			for _, ts := range []int64{0, 7, 33, 59} {
				off, got, _, err := ref.OffsetForTimestamp(ts)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, [2]int64{off, got})
			}
			wantIdx := map[int64][]indexEntry{}
			for _, s := range ref.segs[:len(ref.segs)-1] {
				wantIdx[s.base] = s.idx
			}
			ref.Close()

			tt.damage(t, dir)
			l := openLog(t, dir, cfg, Options{Fsync: FsyncOS})
			for _, s := range l.segs[:len(l.segs)-1] {
				if !equalIndex(s.idx, wantIdx[s.base]) {
					t.Fatalf("segment %d: rebuilt index differs", s.base)
				}
				if _, err := os.Stat(s.path(extIndex)); err != nil {
					t.Fatalf("index file not rewritten: %v", err)
				}
			}
			if got := len(readAll(t, l)); got != 60 {
				t.Fatalf("read %d batches", got)
			}
			for i, ts := range []int64{0, 7, 33, 59} {
				off, got, _, err := l.OffsetForTimestamp(ts)
				if err != nil || [2]int64{off, got} != want[i] {
					t.Fatalf("ts %d: %d@%d %v, want %v", ts, off, got, err, want[i])
				}
			}
		})
	}
}

func equalIndex(a, b []indexEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
