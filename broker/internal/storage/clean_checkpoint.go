package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// cleanCheckpointFile records how far the log is clean and, per cleaned
// segment, when the cleaner first cleaned it: the clock that tombstones and
// COMMIT markers count delete.retention.ms from.
const cleanCheckpointFile = "cleaner-checkpoint"

// cleanedSeg is the cleaner's memory of one clean segment.
type cleanedSeg struct {
	// firstMs is when a pass first cleaned the segment, in ms.
	firstMs int64
	// deletes is set while the segment keeps tombstones or COMMIT markers
	// that only wait for delete.retention.ms, so that a pass runs for them
	// even when nothing is dirty.
	deletes bool
}

// cleanCheckpoint is the cleaner's state of a log: every offset below clean
// has been through a pass.
type cleanCheckpoint struct {
	clean int64
	segs  map[int64]cleanedSeg // by segment base offset
}

// The file: "ECC1", int64 clean offset, uint32 count, per segment int64 base,
// int64 first clean ms, uint8 flags (1: deletes), then the CRC-32C of all that.
var cleanCheckpointMagic = []byte("ECC1")

const cleanedSegLen = 17

func (c cleanCheckpoint) marshal() []byte {
	b := append([]byte(nil), cleanCheckpointMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.clean))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.segs)))
	for base, s := range c.segs {
		b = binary.BigEndian.AppendUint64(b, uint64(base))
		b = binary.BigEndian.AppendUint64(b, uint64(s.firstMs))
		var flags byte
		if s.deletes {
			flags = 1
		}
		b = append(b, flags)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadCleanCheckpoint = errors.New("storage: bad cleaner checkpoint")

func unmarshalCleanCheckpoint(b []byte) (cleanCheckpoint, error) {
	const fixed = 4 + 8 + 4
	if len(b) < fixed+4 || string(b[:4]) != string(cleanCheckpointMagic) ||
		crc32.Checksum(b[:len(b)-4], crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return cleanCheckpoint{}, errBadCleanCheckpoint
	}
	c := cleanCheckpoint{clean: int64(binary.BigEndian.Uint64(b[4:]))}
	n := binary.BigEndian.Uint32(b[12:])
	r := b[fixed : len(b)-4]
	if uint64(len(r)) != uint64(n)*cleanedSegLen {
		return cleanCheckpoint{}, errBadCleanCheckpoint
	}
	c.segs = make(map[int64]cleanedSeg, n)
	for ; len(r) > 0; r = r[cleanedSegLen:] {
		c.segs[int64(binary.BigEndian.Uint64(r))] = cleanedSeg{
			firstMs: int64(binary.BigEndian.Uint64(r[8:])),
			deletes: r[16]&1 != 0,
		}
	}
	return c, nil
}

// readCleanCheckpoint returns the log's checkpoint; without one nothing is
// clean yet. A corrupt one is reported and read as missing: the
// next pass then cleans everything again and tombstone clocks restart, which
// keeps data longer, never shorter.
func (l *Log) readCleanCheckpoint() cleanCheckpoint {
	b, err := os.ReadFile(filepath.Join(l.dir, cleanCheckpointFile))
	if err == nil {
		var c cleanCheckpoint
		if c, err = unmarshalCleanCheckpoint(b); err == nil {
			return c
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		l.logger.Warn("ignoring cleaner checkpoint", "err", err)
	}
	return cleanCheckpoint{segs: map[int64]cleanedSeg{}}
}

// writeCleanCheckpoint durably replaces the checkpoint: a temp file (which
// Open deletes if a crash leaves it), fsync, rename, directory fsync.
func writeCleanCheckpoint(dir string, c cleanCheckpoint) error {
	final := filepath.Join(dir, cleanCheckpointFile)
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("storage: write cleaner checkpoint: %w", err)
	}
	_, err = f.Write(c.marshal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: write cleaner checkpoint: %w", err)
	}
	return syncDir(dir)
}
