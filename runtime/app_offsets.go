package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// initOffsets gives a starting offset to the source partitions whose reset policy is
// not the consumers' (Config.OffsetReset): repartition topics, which always start at
// the earliest offset, and sources with their own SourceConfig.OffsetReset. A kgo
// consumer has one reset policy, so for these partitions, when they have no committed
// offset, the starting offset is committed before any thread joins. A group that
// already has members refuses the commit; they started it, so that is logged only.
func initOffsets(ctx context.Context, adm *kadm.Client, cfg Config, plan *appPlan, log *slog.Logger) error {
	byReset := map[OffsetReset][]string{}
	seen := map[string]bool{}
	for _, st := range plan.subs {
		for _, t := range slices.Sorted(maps.Keys(st.OffsetResets)) {
			if r := st.OffsetResets[t]; r != OffsetResetDefault && r != cfg.OffsetReset && !seen[t] {
				seen[t] = true
				byReset[r] = append(byReset[r], t)
			}
		}
	}
	if len(byReset) == 0 {
		return nil
	}
	committed, err := adm.FetchOffsets(ctx, cfg.ApplicationID)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = kadm.OffsetResponses{}, nil // a new group: nothing committed
	}
	if err != nil {
		return fmt.Errorf("runtime: fetch committed offsets: %w", err)
	}
	start := kadm.Offsets{}
	for reset, topics := range byReset {
		list := adm.ListStartOffsets
		if reset == OffsetResetLatest {
			list = adm.ListEndOffsets
		}
		listed, err := list(ctx, topics...)
		if err != nil {
			return fmt.Errorf("runtime: list offsets: %w", err)
		}
		if err := listed.Error(); err != nil {
			return fmt.Errorf("runtime: list offsets: %w", err)
		}
		listed.Each(func(o kadm.ListedOffset) {
			if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
				return
			}
			start.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		})
	}
	if len(start) == 0 {
		return nil
	}
	resp, err := adm.CommitOffsets(ctx, cfg.ApplicationID, start)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		log.Debug("not setting starting offsets; the group is running", "err", err)
	}
	return nil
}
