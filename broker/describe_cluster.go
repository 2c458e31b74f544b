package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endpointTypeBrokers is DescribeCluster's endpoint type for broker listeners; the other
// (2) asks for controller listeners, which a broker does not serve.
const endpointTypeBrokers = 1

// clusterOperations is the bitfield of the operations on the cluster resource a client
// may perform; with no authorizer, every one the broker supports.
var clusterOperations = func() int32 {
	var bits int32
	for _, op := range []kmsg.ACLOperation{
		kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
	} {
		bits |= 1 << op
	}
	return bits
}()

// handleDescribeCluster describes the cluster: its ID and its one node, which is also
// the controller.
func handleDescribeCluster(_ context.Context, b *Broker, r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("this node is a broker: it describes broker endpoints only")
		return reply{resp: resp}, nil
	}
	resp.ClusterID = b.meta.clusterID
	resp.ControllerID = b.cfg.NodeID
	host, port := b.advertised()
	broker := kmsg.NewDescribeClusterResponseBroker()
	broker.NodeID, broker.Host, broker.Port = b.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{broker}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	return reply{resp: resp}, nil
}
