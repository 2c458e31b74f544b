package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawApiVersions sends an ApiVersions request of the given version on a fresh
// connection and decodes the answer as the v0 response KIP-511 promises for versions the
// broker does not know, or as the version asked for otherwise.
func rawApiVersions(t *testing.T, b *Broker, version int16) *kmsg.ApiVersionsResponse {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName = "eddy-test"
	req.ClientSoftwareVersion = "1"
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(version))
	body = binary.BigEndian.AppendUint32(body, 7) // correlation ID
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	if version >= 3 {
		body = append(body, 0) // header tags
	}
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := nc.Write(append(frame, body...)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(buf); corr != 7 {
		t.Fatalf("correlation ID %d, want 7", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	if _, ok := apis[req.Key()]; ok && version > apis[req.Key()].max {
		resp.Version = 0
	}
	if err := resp.ReadFrom(buf[4:]); err != nil {
		t.Fatalf("decode v%d answer: %v", resp.Version, err)
	}
	return resp
}

func TestApiVersions(t *testing.T) {
	b := startBroker(t, Config{})
	for _, v := range []int16{0, 1, 2, 3, 99} {
		resp := rawApiVersions(t, b, v)
		wantErr := int16(0)
		if v == 99 {
			wantErr = kerr.UnsupportedVersion.Code // KIP-511: v0 answer, error 35, key list
		}
		if resp.ErrorCode != wantErr {
			t.Fatalf("v%d: error %d, want %d", v, resp.ErrorCode, wantErr)
		}
		keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
		for _, k := range resp.ApiKeys {
			keys[k.ApiKey] = k
		}
		if len(keys) != len(apis) {
			t.Fatalf("v%d: %d keys advertised, want %d", v, len(keys), len(apis))
		}
		// librdkafka turns compression off unless Produce is advertised from v0.
		if p, ok := keys[kmsg.Produce.Int16()]; !ok || p.MinVersion != 0 {
			t.Fatalf("v%d: produce advertised as %+v, want from v0", v, p)
		}
		if av := keys[kmsg.ApiVersions.Int16()]; av.MaxVersion != 3 {
			t.Fatalf("v%d: ApiVersions max v%d, want 3", v, av.MaxVersion)
		}
		checkTxnVersions(t, keys)
		if v == 3 {
			for _, f := range resp.FinalizedFeatures {
				if f.Name == "transaction.version" {
					t.Fatalf("transaction.version finalized at %d: KIP-890 part 2 is not served", f.MaxVersionLevel)
				}
			}
		}
	}
}

// checkTxnVersions checks that the transaction APIs are served up to the last version
// before KIP-890 part 2, whose versions clients read as server-side verification.
func checkTxnVersions(t *testing.T, keys map[int16]kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	want := map[kmsg.Key]int16{
		kmsg.Produce:              10,
		kmsg.InitProducerID:       4,
		kmsg.AddPartitionsToTxn:   3,
		kmsg.AddOffsetsToTxn:      3,
		kmsg.EndTxn:               4,
		kmsg.TxnOffsetCommit:      3,
		kmsg.DescribeProducers:    0,
		kmsg.DescribeTransactions: 0,
		kmsg.ListTransactions:     2,
	}
	for key, max := range want {
		k, ok := keys[key.Int16()]
		if !ok || k.MinVersion != 0 || k.MaxVersion != max {
			t.Errorf("%s advertised as %+v (present %v), want v0-v%d", key.Name(), k, ok, max)
		}
	}
}
