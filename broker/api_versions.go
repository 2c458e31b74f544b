package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleApiVersions(_ context.Context, _ *Broker, r *request) (reply, error) {
	resp := r.kreq.(*kmsg.ApiVersionsRequest).ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeys()
	return reply{resp: resp}, nil
}

// apiVersionsUnsupported is the KIP-511 answer to an ApiVersions version the broker does
// not know: a v0 response with UNSUPPORTED_VERSION and the supported keys.
func apiVersionsUnsupported() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return resp
}
