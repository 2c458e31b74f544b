package broker

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eddy-io/eddy/broker/internal/storage"
)

// errInvalidConfig marks a topic config the broker refuses; it is answered with
// INVALID_CONFIG and its message.
var errInvalidConfig = errors.New("invalid config")

// configDef describes one topic config the broker knows: its default, its type and how a
// value is checked.
type configDef struct {
	name     string
	def      string
	typ      kmsg.ConfigType
	min, max float64  // numeric bounds, inclusive
	allowed  []string // for strings and lists: every permitted value
	doc      string
}

// topicConfigDefs lists the topic configs, sorted by name. Values outside these are
// refused rather than silently ignored.
var topicConfigDefs = []configDef{
	{name: "cleanup.policy", def: "delete", typ: kmsg.ConfigTypeList, allowed: []string{"delete", "compact"},
		doc: "delete: drop old segments by retention; compact: keep the latest record of each key."},
	{name: "compression.type", def: "producer", typ: kmsg.ConfigTypeString, allowed: []string{"producer"},
		doc: "Batches are stored compressed as the producer sent them; recompression is not offered."},
	{name: "delete.retention.ms", def: "86400000", typ: kmsg.ConfigTypeLong, min: 0, max: math.MaxInt64,
		doc: "How long tombstones are kept in a compacted topic."},
	{name: "file.delete.delay.ms", def: "60000", typ: kmsg.ConfigTypeLong, min: 0, max: math.MaxInt64,
		doc: "Accepted for compatibility; deleted segments are removed at once."},
	{name: "index.interval.bytes", def: "4096", typ: kmsg.ConfigTypeInt, min: 0, max: math.MaxInt32,
		doc: "Bytes of log between two offset index entries."},
	{name: "max.compaction.lag.ms", def: "9223372036854775807", typ: kmsg.ConfigTypeLong, min: 1, max: math.MaxInt64,
		doc: "The longest a record may stay ineligible for compaction."},
	{name: "max.message.bytes", def: "1048588", typ: kmsg.ConfigTypeInt, min: 0, max: math.MaxInt32,
		doc: "The largest record batch the topic accepts."},
	{name: "message.timestamp.type", def: "CreateTime", typ: kmsg.ConfigTypeString, allowed: []string{"CreateTime", "LogAppendTime"},
		doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock."},
	{name: "min.cleanable.dirty.ratio", def: "0.5", typ: kmsg.ConfigTypeDouble, min: 0, max: 1,
		doc: "The share of a compacted log that must be uncleaned before it is compacted."},
	{name: "min.compaction.lag.ms", def: "0", typ: kmsg.ConfigTypeLong, min: 0, max: math.MaxInt64,
		doc: "The least time a record stays uncompacted."},
	{name: "min.insync.replicas", def: "1", typ: kmsg.ConfigTypeInt, min: 1, max: math.MaxInt32,
		doc: "Replicas that must hold a record before acks=all succeeds; a single node has one."},
	{name: "retention.bytes", def: "-1", typ: kmsg.ConfigTypeLong, min: -1, max: math.MaxInt64,
		doc: "Largest size of a partition before its oldest segments are deleted; -1 for no limit."},
	{name: "retention.ms", def: "604800000", typ: kmsg.ConfigTypeLong, min: -1, max: math.MaxInt64,
		doc: "How long records are kept before their segment is deleted; -1 for ever."},
	{name: "segment.bytes", def: "1073741824", typ: kmsg.ConfigTypeInt, min: 14, max: math.MaxInt32,
		doc: "Size at which a log segment is closed and a new one started."},
	{name: "segment.index.bytes", def: "10485760", typ: kmsg.ConfigTypeInt, min: 4, max: math.MaxInt32,
		doc: "Accepted for compatibility; index files grow as needed."},
	{name: "segment.ms", def: "604800000", typ: kmsg.ConfigTypeLong, min: 1, max: math.MaxInt64,
		doc: "Age at which a non-empty log segment is closed."},
}

func lookupConfig(name string) (configDef, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigDefs, name, func(d configDef, n string) int { return strings.Compare(d.name, n) })
	if !ok {
		return configDef{}, false
	}
	return topicConfigDefs[i], true
}

// check validates value and returns it normalised (lists without spaces).
func (d configDef) check(value string) (string, error) {
	switch d.typ {
	case kmsg.ConfigTypeInt, kmsg.ConfigTypeLong:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || float64(n) < d.min || float64(n) > d.max {
			return "", fmt.Errorf("%w: %s=%q must be an integer in [%.0f, %.0f]", errInvalidConfig, d.name, value, d.min, d.max)
		}
		return strconv.FormatInt(n, 10), nil
	case kmsg.ConfigTypeDouble:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f < d.min || f > d.max {
			return "", fmt.Errorf("%w: %s=%q must be a number in [%g, %g]", errInvalidConfig, d.name, value, d.min, d.max)
		}
		return value, nil
	case kmsg.ConfigTypeList:
		parts := strings.Split(value, ",")
		for i, p := range parts {
			parts[i] = strings.TrimSpace(p)
			if !slices.Contains(d.allowed, parts[i]) {
				return "", fmt.Errorf("%w: %s=%q: each item must be one of %v", errInvalidConfig, d.name, value, d.allowed)
			}
		}
		return strings.Join(parts, ","), nil
	default:
		if len(d.allowed) > 0 && !slices.Contains(d.allowed, value) {
			return "", fmt.Errorf("%w: %s=%q must be one of %v", errInvalidConfig, d.name, value, d.allowed)
		}
		return value, nil
	}
}

// validateConfigs checks a full set of topic overrides and returns them normalised.
func validateConfigs(in map[string]*string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for name, v := range in {
		d, ok := lookupConfig(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, name)
		}
		if v == nil {
			return nil, fmt.Errorf("%w: %s has no value", errInvalidConfig, name)
		}
		nv, err := d.check(*v)
		if err != nil {
			return nil, err
		}
		out[name] = nv
	}
	if err := checkCombined(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkCombined refuses overrides that are each valid but contradict each other. Every
// change of a topic's configs passes through it, however the change was asked for.
func checkCombined(overrides map[string]string) error {
	if s := settingsFor(overrides).storage; s.MinCompactionLag > s.MaxCompactionLag {
		// Kafka refuses the pair too: a record could never be both old enough and young enough.
		return fmt.Errorf("%w: min.compaction.lag.ms %d is above max.compaction.lag.ms %d",
			errInvalidConfig, s.MinCompactionLag.Milliseconds(), s.MaxCompactionLag.Milliseconds())
	}
	return nil
}

// topicSettings are a topic's effective configs in the form the broker uses them.
type topicSettings struct {
	storage          storage.Config
	maxMessageBytes  int32
	logAppendTime    bool
	minInsyncReplica int32
}

// settingsFor resolves a topic's overrides over the defaults. The overrides were
// validated when set, so parse failures cannot happen here.
func settingsFor(overrides map[string]string) topicSettings {
	get := func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		d, _ := lookupConfig(name)
		return d.def
	}
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(get(name), 10, 64)
		return n
	}
	ms := func(name string) time.Duration {
		n := num(name)
		if n < 0 {
			return -1
		}
		if n > math.MaxInt64/int64(time.Millisecond) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Millisecond
	}
	sc := storage.DefaultConfig()
	sc.SegmentBytes = num("segment.bytes")
	sc.SegmentAge = ms("segment.ms")
	sc.RetentionAge = ms("retention.ms")
	sc.RetentionBytes = num("retention.bytes")
	sc.IndexIntervalBytes = int(num("index.interval.bytes"))
	policy := strings.Split(get("cleanup.policy"), ",")
	if !slices.Contains(policy, "delete") {
		// A compact-only topic keeps every key's latest record however old it is.
		sc.RetentionAge, sc.RetentionBytes = -1, -1
	}
	sc.Compact = slices.Contains(policy, "compact")
	sc.DeleteRetention = ms("delete.retention.ms")
	sc.MinCleanableDirtyRatio, _ = strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64)
	sc.MinCompactionLag = ms("min.compaction.lag.ms")
	sc.MaxCompactionLag = ms("max.compaction.lag.ms")
	if sc.Compact && sc.MaxCompactionLag < sc.SegmentAge {
		// As in Kafka, the active segment rolls by max.compaction.lag.ms too,
		// since the cleaner never touches the active segment.
		sc.SegmentAge = sc.MaxCompactionLag
	}
	return topicSettings{
		storage:          sc,
		maxMessageBytes:  int32(num("max.message.bytes")),
		logAppendTime:    get("message.timestamp.type") == "LogAppendTime",
		minInsyncReplica: int32(num("min.insync.replicas")),
	}
}
