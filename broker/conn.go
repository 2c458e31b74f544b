package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeStallTimeout closes a connection whose peer accepts no byte of a response for this
// long. A client that stops reading holds at most MaxInFlightPerConn responses until then,
// and never anything another connection needs. Well above client request timeouts (30s
// by default), so a client still waiting for the answer has given up before it applies.
const writeStallTimeout = time.Minute

// conn serves one client connection. A reader decodes and handles requests in the order
// they arrive, as Kafka does; a writer sends the responses in that same order. A handler
// may leave part of its work to the writer's side (produce waits there for its fsync), so
// that the next request is read and handled while one waits. At most MaxInFlightPerConn
// requests are read and not yet answered on the wire: past that the reader stops reading
// and the client's requests wait in socket buffers.
type conn struct {
	b      *Broker
	nc     net.Conn
	remote string
	host   string // the peer's IP as group members are described
	ctx    context.Context
	cancel context.CancelFunc
	// slots holds a token for every request read and not yet answered.
	slots chan struct{}
	// stall is writeStallTimeout; tests shorten it.
	stall time.Duration
}

// request is one decoded request and what the connection needs to answer it.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	// clientHost is the peer's IP, "/" first, as DescribeGroups reports members.
	clientHost string
	kreq       kmsg.Request
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

// newConn prepares to serve nc until ctx ends or the connection closes.
func newConn(ctx context.Context, b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(ctx)
	remote := nc.RemoteAddr().String()
	return &conn{
		b:      b,
		nc:     nc,
		remote: remote,
		host:   clientHost(remote),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan struct{}, b.cfg.MaxInFlightPerConn),
		stall:  writeStallTimeout,
	}
}

// close ends the connection; blocked reads and writes on it return at once. It may be
// called any number of times from any goroutine.
func (c *conn) close() {
	c.cancel()
	c.nc.Close()
}

// serve runs the connection until the client closes it, a request cannot be answered,
// the peer stalls or close is called.
func (c *conn) serve() {
	defer c.close()
	replies := make(chan reply, cap(c.slots))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(replies)
	}()
	c.readLoop(replies)
	close(replies)
	<-writerDone
}

func (c *conn) readLoop(replies chan<- reply) {
	// An idle connection holds no read buffer: one comes from a pool when a request
	// arrives and goes back once everything read ahead has been used.
	var br *bufio.Reader
	defer func() { putReader(br) }()
	var sizeBuf [4]byte
	for {
		select {
		case c.slots <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		if br != nil && br.Buffered() == 0 {
			putReader(br)
			br = nil
		}
		if br != nil {
			// Part of the next request is here already.
			if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
				return
			}
		} else if err := c.awaitRequest(&sizeBuf); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.b.cfg.MaxRequestBytes {
			c.b.log.Warn("closing connection: bad request size", "remote", c.remote, "size", size, "max", c.b.cfg.MaxRequestBytes)
			return
		}
		if br == nil {
			br = getReader(c.nc)
		}
		body, err := readBody(br, int(size))
		if err != nil {
			return
		}
		rep, err := c.b.handleFrame(c.ctx, c.host, body)
		releaseBody(body)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.b.log.Warn("closing connection", "remote", c.remote, "err", err)
			}
			return
		}
		// Never blocks: the channel has room for every slot.
		replies <- rep
	}
}

// awaitRequest reads the size prefix of the next request straight from the socket. A
// connection that sends nothing for ConnectionsMaxIdle while no response of its is
// pending is closed, as Kafka closes idle connections.
func (c *conn) awaitRequest(size *[4]byte) error {
	idle := c.b.cfg.ConnectionsMaxIdle
	read := 0
	for {
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := io.ReadFull(c.nc, size[read:])
		read += n
		switch {
		case err == nil:
			c.nc.SetReadDeadline(time.Time{})
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		case read == 0 && len(c.slots) == 1: // the slot this request took: nothing pending
			c.b.log.Debug("closing idle connection", "remote", c.remote, "idle", idle)
			return err
		}
	}
}

// writeLoop sends the replies in order. Replies that are ready together share one write;
// each write returns the slots of the requests it answers, letting the reader go on.
func (c *conn) writeLoop(replies <-chan reply) {
	w := responseWriter{c: c}
	for rep := range replies {
		if rep.wait != nil {
			// Answers already encoded must not wait for this one's fsync.
			w.flush()
			rep.wait(c.ctx)
		}
		if !rep.noReply {
			if w.buf == nil {
				w.buf = getWriteBuf(responseSizeHint(rep.resp))
			} else if hint := responseSizeHint(rep.resp); cap(w.buf)-len(w.buf) < hint {
				// Gathered answers go out first rather than being copied into a larger buffer.
				w.flush()
				w.buf = getWriteBuf(hint)
			}
			w.buf = encodeResponse(w.buf, rep.corr, rep.resp)
		}
		w.answered++
		if len(replies) == 0 || len(w.buf) >= writeBatchBytes {
			w.flush()
		}
	}
}

// responseWriter gathers encoded responses for one write.
type responseWriter struct {
	c        *conn
	buf      []byte
	answered int  // requests answered by buf
	broken   bool // a write failed: the connection is closed, replies are dropped
}

// flush writes buf, then frees it for other connections and returns the slots of the
// requests it answered.
func (w *responseWriter) flush() {
	if len(w.buf) > 0 && !w.broken {
		if err := w.c.write(w.buf); err != nil {
			w.broken = true
			w.c.close()
		}
	}
	putWriteBuf(w.buf)
	w.buf = nil
	for ; w.answered > 0; w.answered-- {
		<-w.c.slots
	}
}

// write writes p, failing only if the peer accepts no byte of it for c.stall: a slow
// reader is served at its own pace, one that stopped reading is dropped.
func (c *conn) write(p []byte) error {
	for {
		c.nc.SetWriteDeadline(time.Now().Add(c.stall))
		n, err := c.nc.Write(p)
		p = p[n:]
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		case n == 0:
			c.b.log.Warn("closing connection: client stopped reading", "remote", c.remote, "stalled", c.stall)
			return err
		}
	}
}

// encodeResponse appends resp framed to dst: size, correlation ID, the header's tagged
// fields for flexible versions (ApiVersions always uses header v0), then the body.
func encodeResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// clientHost is a peer's address as Kafka reports a group member's host: the IP after
// a slash.
func clientHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	return "/" + host
}

// handleFrame decodes one request (the bytes after its size) from the client at host
// and handles it.
func (b *Broker) handleFrame(ctx context.Context, host string, body []byte) (reply, error) {
	rd := kbin.Reader{Src: body}
	req := &request{key: rd.Int16(), version: rd.Int16(), corr: rd.Int32(), clientHost: host}
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
