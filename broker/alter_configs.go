package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleAlterConfigs replaces the whole override set of each topic named: a config left
// out returns to its default. Each resource succeeds or fails on its own.
func handleAlterConfigs(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	keyOf := func(rr kmsg.AlterConfigsRequestResource) configResource {
		return configResource{rr.ResourceType, rr.ResourceName}
	}
	answerOnce(req.Resources, keyOf, func(rr kmsg.AlterConfigsRequestResource, duplicated bool) {
		key := keyOf(rr)
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		configs, err := alterConfigsSet(rr.Configs)
		switch {
		case duplicated:
			sr.ErrorCode, sr.ErrorMessage = key.duplicated()
		case err != nil:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		default:
			sr.ErrorCode, sr.ErrorMessage = b.alterResource(key, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
				return validateConfigs(configs)
			})
		}
		resp.Resources = append(resp.Resources, sr)
	})
	return reply{resp: resp}, nil
}

// alterConfigsSet collects an AlterConfigs resource's configs, refusing a name given
// twice.
func alterConfigsSet(cs []kmsg.AlterConfigsRequestResourceConfig) (map[string]*string, error) {
	out := make(map[string]*string, len(cs))
	for _, c := range cs {
		if _, dup := out[c.Name]; dup {
			return nil, fmt.Errorf("config %q is given more than once", c.Name)
		}
		out[c.Name] = c.Value
	}
	return out, nil
}

// configResource identifies a resource of a config request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicated answers a resource named more than once in a request; Kafka alters neither.
func (k configResource) duplicated() (int16, *string) {
	return kerr.InvalidRequest.Code, kmsg.StringPtr(fmt.Sprintf("%v %q is named more than once in the request", k.typ, k.name))
}

// alterResource alters the configs of one resource: a topic's overrides become
// change(current overrides). Broker configs are fixed when the broker starts, so altering
// them is refused. It returns the answer's error code and message.
func (b *Broker) alterResource(k configResource, validateOnly bool, change func(map[string]string) (map[string]string, error)) (int16, *string) {
	switch k.typ {
	case kmsg.ConfigResourceTypeTopic:
		err := validTopicName(k.name)
		if err == nil {
			err = b.topics.alterConfigs(k.name, change, validateOnly)
		}
		if err != nil {
			return b.adminError("alter configs", k.name, err)
		}
		return 0, nil
	case kmsg.ConfigResourceTypeBroker:
		if _, err := b.brokerResource(k.name); err != nil {
			return kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		}
		return kerr.InvalidConfig.Code, kmsg.StringPtr("broker configs are read-only: they are set by the flags the broker starts with")
	default:
		return kerr.InvalidRequest.Code, kmsg.StringPtr(fmt.Sprintf("altering %v configs is not supported", k.typ))
	}
}
