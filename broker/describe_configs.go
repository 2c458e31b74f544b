package broker

import (
	"context"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configValue is one config's effective value and where it comes from.
type configValue struct {
	name     string
	value    string
	source   kmsg.ConfigSource
	def      string // the value it would have without an override
	typ      kmsg.ConfigType
	doc      string
	readOnly bool
}

// handleDescribeConfigs answers the configs of topics and of this broker. Other resource
// types are refused per resource.
func handleDescribeConfigs(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var values []configValue
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, err := b.existingTopic(rr.ResourceName)
			if err != nil {
				sr.ErrorCode, sr.ErrorMessage = b.adminError("describe configs", rr.ResourceName, err)
				break
			}
			values = topicConfigValues(t.configs())
		case kmsg.ConfigResourceTypeBroker:
			all, err := b.brokerResource(rr.ResourceName)
			if err != nil {
				sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
				break
			}
			// The cluster-wide resource ("") holds only dynamic defaults, and there are none.
			if all {
				values = b.brokerConfigValues()
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("describing %v configs is not supported", rr.ResourceType))
		}
		for _, v := range filterConfigs(values, rr.ConfigNames) {
			sr.Configs = append(sr.Configs, v.described(req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return reply{resp: resp}, nil
}

// existingTopic returns the topic called name, telling a malformed name from an unknown
// one as Kafka does.
func (b *Broker) existingTopic(name string) (*topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	t := b.topics.get(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	return t, nil
}

// brokerResource checks a broker resource name: this node's ID names the broker itself
// (all reports true), "" the cluster-wide defaults; any other broker is not here.
func (b *Broker) brokerResource(name string) (all bool, err error) {
	if name == "" {
		return false, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return false, fmt.Errorf("broker id must be an integer, got %q", name)
	}
	if int32(id) != b.cfg.NodeID {
		return false, fmt.Errorf("unexpected broker id %d: this is broker %d", id, b.cfg.NodeID)
	}
	return true, nil
}

// filterConfigs keeps the named configs in the order asked, or all of them when names is
// null. Names the resource does not have are left out, as Kafka does.
func filterConfigs(values []configValue, names []string) []configValue {
	if names == nil {
		return values
	}
	var out []configValue
	for _, n := range names {
		for _, v := range values {
			if v.name == n {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// described renders v for DescribeConfigs; the response's version drops what it cannot
// carry (IsDefault is v0 only, Source and synonyms v1+, type and documentation v3+).
func (v configValue) described(synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = v.name
	c.Value = kmsg.StringPtr(v.value)
	c.ReadOnly = v.readOnly
	c.IsDefault = v.source == kmsg.ConfigSourceDefaultConfig
	c.Source = v.source
	c.ConfigType = v.typ
	if docs {
		c.Documentation = kmsg.StringPtr(v.doc)
	}
	if synonyms {
		// In order of precedence: the value in effect, then what it overrides.
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = v.name, kmsg.StringPtr(v.value), v.source
		c.ConfigSynonyms = append(c.ConfigSynonyms, s)
		if v.source == kmsg.ConfigSourceDynamicTopicConfig {
			s.Value, s.Source = kmsg.StringPtr(v.def), kmsg.ConfigSourceDefaultConfig
			c.ConfigSynonyms = append(c.ConfigSynonyms, s)
		}
	}
	return c
}

// topicConfigValues resolves a topic's overrides over the defaults, for every topic
// config, sorted by name.
func topicConfigValues(overrides map[string]string) []configValue {
	out := make([]configValue, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		v := configValue{name: d.name, value: d.def, source: kmsg.ConfigSourceDefaultConfig, def: d.def, typ: d.typ, doc: d.doc}
		if o, ok := overrides[d.name]; ok {
			v.value, v.source = o, kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, v)
	}
	return out
}

// brokerConfigValues describes this broker's settings under Kafka's names, sorted by
// name. They are fixed at start (flags of `eddy broker`), so all are read-only.
func (b *Broker) brokerConfigValues() []configValue {
	host, port := b.advertised()
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	never := strconv.FormatInt(math.MaxInt64, 10)
	flushMessages, flushMs := never, never
	switch b.cfg.Fsync {
	case "always":
		flushMessages = "1"
	case "interval":
		flushMs = ms(b.cfg.FsyncInterval)
	}
	node := strconv.Itoa(int(b.cfg.NodeID))
	static := func(name, value string, typ kmsg.ConfigType, doc string) configValue {
		return configValue{name: name, value: value, source: kmsg.ConfigSourceStaticBrokerConfig, def: value, typ: typ, doc: doc, readOnly: true}
	}
	fixed := func(name, value string, typ kmsg.ConfigType, doc string) configValue {
		v := static(name, value, typ, doc)
		v.source = kmsg.ConfigSourceDefaultConfig
		return v
	}
	return []configValue{
		static("advertised.listeners", "PLAINTEXT://"+net.JoinHostPort(host, strconv.Itoa(int(port))), kmsg.ConfigTypeString,
			"The address clients are told to connect to."),
		static("auto.create.topics.enable", strconv.FormatBool(b.cfg.AutoCreateTopics), kmsg.ConfigTypeBoolean,
			"Whether a Metadata request for an unknown topic creates it."),
		static("broker.id", node, kmsg.ConfigTypeInt, "This broker's node ID."),
		fixed("default.replication.factor", "1", kmsg.ConfigTypeInt, "A single node keeps one replica of each partition."),
		static("group.initial.rebalance.delay.ms", ms(b.cfg.GroupInitialRebalanceDelay), kmsg.ConfigTypeInt,
			"How long a new group waits for more members before its first rebalance."),
		static("group.max.session.timeout.ms", ms(b.cfg.GroupMaxSessionTimeout), kmsg.ConfigTypeInt,
			"The longest session timeout a group member may ask for."),
		static("group.min.session.timeout.ms", ms(b.cfg.GroupMinSessionTimeout), kmsg.ConfigTypeInt,
			"The shortest session timeout a group member may ask for."),
		static("listeners", "PLAINTEXT://"+b.Addr(), kmsg.ConfigTypeString, "The address the broker listens on."),
		static("log.dirs", filepath.Join(b.cfg.DataDir, "logs"), kmsg.ConfigTypeString, "Where partition logs are stored."),
		static("log.flush.interval.messages", flushMessages, kmsg.ConfigTypeLong,
			"1 when every acknowledged batch is fsynced first (fsync policy always)."),
		static("log.flush.interval.ms", flushMs, kmsg.ConfigTypeLong,
			"The background fsync period of the fsync policy interval."),
		static("log.retention.check.interval.ms", ms(b.cfg.RetentionCheckInterval), kmsg.ConfigTypeLong,
			"How often retention and segment age are enforced."),
		fixed("min.insync.replicas", "1", kmsg.ConfigTypeInt, "A single node has one in-sync replica."),
		static("node.id", node, kmsg.ConfigTypeInt, "This broker's node ID."),
		static("num.partitions", strconv.Itoa(int(b.cfg.DefaultPartitions)), kmsg.ConfigTypeInt,
			"The partition count of topics created without one."),
		static("socket.request.max.bytes", strconv.Itoa(int(b.cfg.MaxRequestBytes)), kmsg.ConfigTypeInt,
			"The largest request the broker reads."),
	}
}
