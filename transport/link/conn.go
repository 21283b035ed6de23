package link

import (
	"net"
	"os"
	"sync"
	"time"
)

// chunk is a piece of the byte stream in flight.
type chunk struct {
	data   []byte
	arrive time.Time
	err    error // set on the last chunk of a read stream (EOF or failure)
}

// inflight is how many chunks each direction may hold in flight before the
// sender blocks: enough for the bandwidth-delay product of fast links.
const inflight = 512

// conn is a net.Conn whose traffic crosses a Link. Writes are paced by the
// caller's goroutine and delivered by a sender goroutine at their arrival
// times; a receiver goroutine reads the underlying connection, paces what
// it reads and hands it to Read at its arrival time. Both directions are
// pipelined: a link with RTT r and rate b carries b bytes per second, not
// one chunk per r.
type conn struct {
	net.Conn
	l *Link

	wmu      sync.Mutex // serialises Write (and guards sendq against Close)
	sendq    chan chunk
	lastSend time.Time // arrival of the last chunk sent (in-order)
	werrMu   sync.Mutex
	werr     error

	rmu     sync.Mutex // serialises Read
	recvq   chan chunk
	pending chunk // partly consumed chunk
	rerr    error

	done      chan struct{}
	closeOnce sync.Once
	sent      chan struct{} // closed when the sender goroutine has finished

	readDL, writeDL deadline
}

func newConn(l *Link, c net.Conn) *conn {
	cn := &conn{
		Conn:  c,
		l:     l,
		sendq: make(chan chunk, inflight),
		recvq: make(chan chunk, inflight),
		done:  make(chan struct{}),
		sent:  make(chan struct{}),
	}
	cn.readDL.init()
	cn.writeDL.init()
	go cn.sender()
	go cn.receiver()
	return cn
}

var errClosed = net.ErrClosed

// Write paces p at the link's up rate (blocking for the serialisation time,
// less a small lead) and queues it for delivery after the one-way delay.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		if err := c.writeErr(); err != nil {
			return written, err
		}
		n := min(len(p), c.l.chunkSize(up))
		done, arrive := c.l.schedule(up, n)
		if err := c.sleepUntil(done.Add(-lead), &c.writeDL); err != nil {
			return written, err
		}
		if arrive.Before(c.lastSend) {
			arrive = c.lastSend
		}
		c.lastSend = arrive
		data := append([]byte(nil), p[:n]...)
		select {
		case c.sendq <- chunk{data: data, arrive: arrive}:
		case <-c.done:
			return written, errClosed
		case <-c.writeDL.wait():
			return written, os.ErrDeadlineExceeded
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (c *conn) writeErr() error {
	select {
	case <-c.done:
		return errClosed
	default:
	}
	if c.writeDL.expired() {
		return os.ErrDeadlineExceeded
	}
	c.werrMu.Lock()
	defer c.werrMu.Unlock()
	return c.werr
}

// sleepUntil waits for t, or fails on close or the deadline.
func (c *conn) sleepUntil(t time.Time, dl *deadline) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-c.done:
		return errClosed
	case <-dl.wait():
		return os.ErrDeadlineExceeded
	}
}

// sender delivers queued chunks at their arrival times. After Close it
// still delivers what was queued (it was already "on the wire"), then
// closes the underlying connection.
func (c *conn) sender() {
	defer close(c.sent)
	defer c.Conn.Close()
	fail := func(err error) {
		c.werrMu.Lock()
		if c.werr == nil {
			c.werr = err
		}
		c.werrMu.Unlock()
	}
	for ch := range c.sendq {
		if d := time.Until(ch.arrive); d > 0 {
			time.Sleep(d)
		}
		if _, err := c.Conn.Write(ch.data); err != nil {
			fail(err)
			// Drain so that writers blocked on a full queue return.
			for range c.sendq {
			}
			return
		}
	}
}

// receiver reads the underlying connection, paces what it reads at the
// link's down rate and queues it with its arrival time.
func (c *conn) receiver() {
	var last time.Time
	for {
		buf := make([]byte, c.l.chunkSize(down))
		n, err := c.Conn.Read(buf)
		if n > 0 {
			done, arrive := c.l.schedule(down, n)
			if d := time.Until(done.Add(-lead)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return
				}
			}
			if arrive.Before(last) {
				arrive = last
			}
			last = arrive
			select {
			case c.recvq <- chunk{data: buf[:n], arrive: arrive}:
			case <-c.done:
				return
			}
		}
		if err != nil {
			if last.IsZero() {
				last = time.Now()
			}
			select {
			case c.recvq <- chunk{err: err, arrive: last}:
			case <-c.done:
			}
			return
		}
	}
}

// Read returns bytes that have arrived, waiting for the next chunk if none.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(c.pending.data) > 0 {
			if err := c.sleepUntil(c.pending.arrive, &c.readDL); err != nil {
				return 0, err
			}
			n := copy(p, c.pending.data)
			c.pending.data = c.pending.data[n:]
			// Hand over whatever else has already arrived, up to len(p).
			for n < len(p) && len(c.pending.data) == 0 {
				select {
				case ch := <-c.recvq:
					if ch.err != nil || time.Now().Before(ch.arrive) {
						c.pending = ch
						return n, nil
					}
					m := copy(p[n:], ch.data)
					n += m
					c.pending = chunk{data: ch.data[m:], arrive: ch.arrive}
				default:
					return n, nil
				}
			}
			return n, nil
		}
		if c.pending.err != nil {
			if err := c.sleepUntil(c.pending.arrive, &c.readDL); err != nil {
				return 0, err
			}
			c.rerr = c.pending.err
			c.pending = chunk{}
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		select {
		case <-c.done:
			return 0, errClosed
		default:
		}
		if c.readDL.expired() {
			return 0, os.ErrDeadlineExceeded
		}
		select {
		case ch := <-c.recvq:
			c.pending = ch
		case <-c.done:
			return 0, errClosed
		case <-c.readDL.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Close stops reads and writes at once. Bytes already written are still
// delivered after their delay (they were on the wire); then the underlying
// connection closes.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.wmu.Lock()
		close(c.sendq)
		c.wmu.Unlock()
		// Bound the drain: a peer that never reads must not keep the
		// sender alive.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(2*time.Second + c.l.Profile().RTT))
	})
	return nil
}

func (c *conn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error  { c.readDL.set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.writeDL.set(t); return nil }

// deadline is a resettable deadline whose channel closes when it passes
// (the same scheme as net.Pipe's).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func (d *deadline) init() { d.cancel = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) expired() bool { return isClosed(d.wait()) }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
