package storage

import (
	"fmt"
	"log/slog"
	"time"
)

// FsyncPolicy says when appended data is forced to disk; see the package doc
// for each policy's loss window.
type FsyncPolicy int

const (
	// FsyncAlways makes a batch durable before readers see it; concurrent
	// appenders share one fsync through WaitDurable (group commit).
	FsyncAlways FsyncPolicy = iota
	// FsyncInterval fsyncs in the background every Options.FsyncInterval.
	FsyncInterval
	// FsyncOS never fsyncs on the append path and leaves write-back to the
	// kernel; segments are still fsynced when rolled and on Close.
	FsyncOS
)

// String returns the policy's configuration name.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncOS:
		return "os"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// ParseFsyncPolicy parses "always", "interval" or "os".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "interval":
		return FsyncInterval, nil
	case "os":
		return FsyncOS, nil
	}
	return 0, fmt.Errorf("%w: fsync policy %q (want always, interval or os)", ErrInvalidConfig, s)
}

// Config holds a partition's topic-level settings; SetConfig changes them
// while the log is open.
type Config struct {
	// SegmentBytes rolls the active segment when a batch would make it
	// larger than this. Values above 2 GiB - 1 are treated as 2 GiB - 1,
	// because index entries hold 32-bit positions (Kafka has the same cap).
	SegmentBytes int64
	// SegmentAge rolls a non-empty active segment older than this, checked
	// on Append and in EnforceRetention; <= 0 never.
	SegmentAge time.Duration
	// RetentionAge deletes closed segments whose newest record timestamp is
	// older than now-RetentionAge; negative keeps them forever.
	RetentionAge time.Duration
	// RetentionBytes deletes the oldest closed segments while the log is
	// larger than this; negative means no limit.
	RetentionBytes int64
	// IndexIntervalBytes is the number of bytes between sparse index entries.
	IndexIntervalBytes int

	// Compact makes Clean keep only the latest record of each key in the
	// closed segments (cleanup.policy compact). Deletion by retention is
	// independent: it is off when RetentionAge and RetentionBytes are < 0.
	Compact bool
	// DeleteRetention is how long a tombstone (a record with a null value)
	// and a removable COMMIT marker survive after the cleaner first cleaned
	// the segment holding them (delete.retention.ms).
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio is the share of the cleanable bytes that must
	// be dirty (written since the last clean) before Clean does a pass
	// (min.cleanable.dirty.ratio).
	MinCleanableDirtyRatio float64
	// MinCompactionLag keeps a segment dirty while its newest record is
	// younger than this (min.compaction.lag.ms).
	MinCompactionLag time.Duration
	// MaxCompactionLag makes Clean do a pass whatever the dirty ratio once
	// the oldest dirty record is older than this; <= 0 never
	// (max.compaction.lag.ms).
	MaxCompactionLag time.Duration
}

// DefaultConfig returns Kafka's defaults: 1 GiB segments rolled after 7 days,
// 7 days retention, no size limit, an index entry every 4 KiB; no
// compaction, and when it is turned on, tombstones kept for a day, a pass
// once half the log is dirty, no minimum or maximum lag.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentAge:             7 * 24 * time.Hour,
		RetentionAge:           7 * 24 * time.Hour,
		RetentionBytes:         -1,
		IndexIntervalBytes:     4096,
		DeleteRetention:        24 * time.Hour,
		MinCleanableDirtyRatio: 0.5,
	}
}

// maxSegmentBytes keeps every position in a segment inside an index entry's
// uint32 and below Kafka's own int32 limit.
const maxSegmentBytes = 1<<31 - 1

func (c Config) segmentBytes() int64 {
	if c.SegmentBytes <= 0 || c.SegmentBytes > maxSegmentBytes {
		return maxSegmentBytes
	}
	return c.SegmentBytes
}

func (c Config) indexInterval() int {
	if c.IndexIntervalBytes <= 0 {
		return 4096
	}
	return c.IndexIntervalBytes
}

// Options are the broker-wide settings of a Log.
type Options struct {
	// Fsync is the durability policy.
	Fsync FsyncPolicy
	// FsyncInterval is the background fsync period of FsyncInterval; <= 0
	// means one second.
	FsyncInterval time.Duration
	// Logger receives recovery warnings; nil discards them.
	Logger *slog.Logger
	// Now is the clock for segment age and retention; nil is time.Now.
	Now func() time.Time
	// ProducerExpiration forgets, at the next EnforceRetention, a producer whose
	// newest batch or marker timestamp is older than this and that has no
	// transaction open (producer.id.expiration.ms), so that every client that
	// ever wrote does not stay in memory and in snapshots; <= 0 means
	// DefaultProducerExpiration. An expired producer that writes again gets
	// ErrUnknownProducerID unless it starts over at sequence 0.
	ProducerExpiration time.Duration
}

// DefaultProducerExpiration is Kafka's producer.id.expiration.ms default.
const DefaultProducerExpiration = 24 * time.Hour

func (o *Options) producerExpiration() time.Duration {
	if o.ProducerExpiration <= 0 {
		return DefaultProducerExpiration
	}
	return o.ProducerExpiration
}
