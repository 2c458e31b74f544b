package state

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// checkpointHeader opens a checkpoint file and names its format version.
const checkpointHeader = "eddy-checkpoint 1"

// WriteCheckpoint replaces the checkpoint file at path with offsets (changelog
// topic-partition to the next offset the local state reflects), the way Kafka Streams
// keeps its .checkpoint file for at-least-once: written to a temporary file, synced,
// renamed over path and the directory synced, so a crash leaves the old file or the new
// one.
//
// The format is text: the header line, one line per entry (offset, then the quoted
// name) sorted by name, and a last line with the CRC-32C of everything before it.
func WriteCheckpoint(path string, offsets map[string]int64) error {
	var b bytes.Buffer
	b.WriteString(checkpointHeader + "\n")
	for _, name := range slices.Sorted(maps.Keys(offsets)) {
		fmt.Fprintf(&b, "%d %s\n", offsets[name], strconv.Quote(name))
	}
	fmt.Fprintf(&b, "crc %08x\n", crc32.Checksum(b.Bytes(), castagnoli))

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("state: write checkpoint: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort: the write already failed
		return fmt.Errorf("state: write checkpoint: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("state: write checkpoint: %w", err)
	}
	return nil
}

// ReadCheckpoint reads a file written by WriteCheckpoint. A missing file gives empty
// offsets (no local state to trust); a damaged one gives an error wrapping ErrCorrupt.
func ReadCheckpoint(path string) (map[string]int64, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: read checkpoint: %w", err)
	}
	bad := func(what string) (map[string]int64, error) {
		return nil, fmt.Errorf("state: checkpoint %s: %s: %w", path, what, ErrCorrupt)
	}
	body := bytes.TrimSuffix(raw, []byte("\n"))
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 {
		return bad("truncated")
	}
	body, crcLine := body[:i+1], string(body[i+1:])
	var sum uint32
	if _, err := fmt.Sscanf(crcLine, "crc %08x", &sum); err != nil {
		return bad("no checksum line")
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	if !sc.Scan() || sc.Text() != checkpointHeader {
		return bad("unknown header")
	}
	offsets := map[string]int64{}
	for sc.Scan() {
		num, quoted, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return bad("bad line")
		}
		off, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return bad("bad offset")
		}
		name, err := strconv.Unquote(quoted)
		if err != nil {
			return bad("bad name")
		}
		offsets[name] = off
	}
	return offsets, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
