package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection. A reader decodes and handles requests in the order
// they arrive, as Kafka does; a writer sends the responses in that same order. A handler
// may leave part of its work to the writer's side (produce waits there for its fsync), so
// that the next request is read and handled while one waits, and MaxInFlightPerConn bounds
// how far the reader may run ahead.
type conn struct {
	b      *Broker
	nc     net.Conn
	remote string
	once   sync.Once
	cancel context.CancelFunc
}

// request is one decoded request and what the connection needs to answer it.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	kreq     kmsg.Request
}

// reply is a handler's answer. When wait is set, the writer calls it before encoding
// resp; wait completes resp (for example with the outcome of an fsync). noReply marks
// requests that have no response on the wire (produce with acks=0).
type reply struct {
	corr    int32
	resp    kmsg.Response
	wait    func(ctx context.Context)
	noReply bool
}

// errCloseConn tells the reader to close the connection, as Kafka does for requests that
// cannot be answered (unknown key, unsupported version, undecodable body).
var errCloseConn = errors.New("close connection")

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{b: b, nc: nc, remote: nc.RemoteAddr().String()}
}

func (c *conn) close() {
	c.once.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.nc.Close()
	})
}

func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	c.b.mu.Lock()
	c.cancel = cancel
	c.b.mu.Unlock()
	defer c.close()

	replies := make(chan reply, c.b.cfg.MaxInFlightPerConn)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(ctx, replies)
	}()
	c.readLoop(ctx, replies)
	close(replies)
	<-writerDone
}

func (c *conn) readLoop(ctx context.Context, replies chan<- reply) {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.b.cfg.MaxRequestBytes {
			c.b.log.Warn("closing connection: bad request size", "remote", c.remote, "size", size, "max", c.b.cfg.MaxRequestBytes)
			return
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		rep, err := c.b.handleFrame(ctx, body)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.b.log.Warn("closing connection", "remote", c.remote, "err", err)
			}
			return
		}
		select {
		case replies <- rep:
		case <-ctx.Done():
			return
		}
	}
}

func (c *conn) writeLoop(ctx context.Context, replies <-chan reply) {
	w := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	for rep := range replies {
		if rep.wait != nil {
			rep.wait(ctx)
		}
		if rep.noReply {
			continue
		}
		buf = encodeResponse(buf[:0], rep.corr, rep.resp)
		if _, err := w.Write(buf); err != nil {
			c.close()
			continue // drain so the reader is never stuck on a full channel
		}
		// Flush only when no other reply is ready, so pipelined responses share a write.
		if len(replies) == 0 {
			if err := w.Flush(); err != nil {
				c.close()
			}
		}
	}
}

// encodeResponse frames resp: size, correlation ID, the header's tagged fields for
// flexible versions (ApiVersions always uses header v0), then the body.
func encodeResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[:4], uint32(len(dst)-4))
	return dst
}

// handleFrame decodes one request (the bytes after its size) and handles it.
func (b *Broker) handleFrame(ctx context.Context, body []byte) (reply, error) {
	rd := kbin.Reader{Src: body}
	req := &request{key: rd.Int16(), version: rd.Int16(), corr: rd.Int32()}
	if cid := rd.NullableString(); cid != nil {
		req.clientID = *cid
	}
	if err := rd.Complete(); err != nil {
		return reply{}, fmt.Errorf("%w: truncated request header", errCloseConn)
	}
	api, ok := apis[req.key]
	if !ok {
		return reply{}, fmt.Errorf("%w: unknown api key %d", errCloseConn, req.key)
	}
	if req.version < api.min || req.version > api.max {
		if req.key == kmsg.ApiVersions.Int16() {
			// KIP-511: answer an unknown ApiVersions version with v0 and the key list so
			// the client can retry with one we know.
			return reply{corr: req.corr, resp: apiVersionsUnsupported()}, nil
		}
		return reply{}, fmt.Errorf("%w: %s v%d not supported (v%d-v%d)", errCloseConn, kmsg.NameForKey(req.key), req.version, api.min, api.max)
	}
	req.kreq = kmsg.RequestForKey(req.key)
	req.kreq.SetVersion(req.version)
	if req.kreq.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := req.kreq.ReadFrom(rd.Src); err != nil {
		return reply{}, fmt.Errorf("%w: decode %s v%d: %w", errCloseConn, kmsg.NameForKey(req.key), req.version, err)
	}
	rep, err := api.handle(ctx, b, req)
	if err != nil {
		return reply{}, err
	}
	rep.corr = req.corr
	if rep.resp == nil && !rep.noReply {
		// A handler that was interrupted (the connection or broker is closing).
		return reply{}, context.Canceled
	}
	return rep, nil
}
