package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleIncrementalAlterConfigs changes single configs of each topic named: SET and
// DELETE any config, APPEND and SUBTRACT items of a list config. A resource's operations
// apply together or not at all.
func handleIncrementalAlterConfigs(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	keyOf := func(rr kmsg.IncrementalAlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	}
	answerOnce(req.Resources, keyOf, func(rr kmsg.IncrementalAlterConfigsRequestResource, duplicated bool) {
		key := keyOf(rr)
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := checkIncrementalOps(rr.Configs)
		switch {
		case duplicated:
			sr.ErrorCode, sr.ErrorMessage = key.duplicated()
		case err != nil:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		default:
			sr.ErrorCode, sr.ErrorMessage = b.alterResource(key, req.ValidateOnly, func(current map[string]string) (map[string]string, error) {
				return applyIncrementalOps(current, rr.Configs)
			})
		}
		resp.Resources = append(resp.Resources, sr)
	})
	return reply{resp: resp}, nil
}

// checkIncrementalOps refuses what makes a resource's request malformed whatever the
// configs: an unknown operation or a config named twice.
func checkIncrementalOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return fmt.Errorf("config %q is given more than once", op.Name)
		}
		seen[op.Name] = true
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete,
			kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		default:
			return fmt.Errorf("config %q: unknown operation %d", op.Name, op.Op)
		}
	}
	return nil
}

// applyIncrementalOps returns the overrides that result from applying ops to current,
// which it leaves unchanged. APPEND and SUBTRACT start from the value in effect, the
// default when there is no override, as Kafka does.
func applyIncrementalOps(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	next := make(map[string]string, len(current)+len(ops))
	maps.Copy(next, current)
	for _, op := range ops {
		d, ok := lookupConfig(op.Name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, op.Name)
		}
		if op.Op == kmsg.IncrementalAlterConfigOpDelete {
			delete(next, op.Name)
			continue
		}
		if op.Value == nil {
			return nil, fmt.Errorf("%w: %s %s has no value", errInvalidConfig, op.Op, op.Name)
		}
		value := *op.Value
		if op.Op != kmsg.IncrementalAlterConfigOpSet {
			if d.typ != kmsg.ConfigTypeList {
				return nil, fmt.Errorf("%w: %s applies to list configs only, and %s is not one", errInvalidConfig, op.Op, op.Name)
			}
			base, ok := next[op.Name]
			if !ok {
				base = d.def
			}
			value = editList(base, value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		}
		v, err := d.check(value)
		if err != nil {
			return nil, err
		}
		next[op.Name] = v
	}
	return next, nil
}

// editList appends the items of change that list lacks, or removes every item of change
// from list. Both are comma-separated.
func editList(list, change string, appendItems bool) string {
	split := func(s string) []string {
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return items
	}
	items, changes := split(list), split(change)
	if appendItems {
		for _, c := range changes {
			if !slices.Contains(items, c) {
				items = append(items, c)
			}
		}
	} else {
		items = slices.DeleteFunc(items, func(it string) bool { return slices.Contains(changes, it) })
	}
	return strings.Join(items, ",")
}
