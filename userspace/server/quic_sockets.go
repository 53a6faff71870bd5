package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"

	"github.com/weir-gateway/weir/dataplane/quicsteer"
)

// cidLen is the length of the connection IDs weir issues: generation, slot
// and 6 random bytes (48 bits against collisions and guessing).
const cidLen = 8

// maxQUICWorkers bounds the sockets of one listener; the slot is a CID byte.
const maxQUICWorkers = 64

// workersEnv sets the number of QUIC worker sockets of listeners whose
// config leaves http3_workers at 0 (default GOMAXPROCS); 1 turns steering
// off.
const workersEnv = "WEIR_QUIC_WORKERS"

// unsteeredGeneration is byte 0 of the CIDs of a listener without the
// steering program (nothing routes by it; random, so a later steered
// process is unlikely to mistake them for its own).
var unsteeredGeneration = func() uint8 {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]
}()

// steerLoader loads the steering program for the group bound to addr, with
// its maps pinned per address so an upgrade can hand connections over. If
// the pins cannot be used (no bpffs, or pinned by an incompatible weir) it
// loads private maps and logs that connections will not survive an
// upgrade. Tests replace it to exercise the fallback.
var steerLoader = func(addr *net.UDPAddr, log *slog.Logger) (steerProgram, error) {
	dir := quicsteer.PinDir(quicPinRoot, addr)
	p, err := quicsteer.Load(quicsteer.Options{CIDLen: cidLen, PinDir: dir})
	if err == nil || errors.Is(err, quicsteer.ErrPermission) || errors.Is(err, quicsteer.ErrNotSupported) {
		return p, err
	}
	log.Warn("QUIC steering maps cannot be pinned; HTTP/3 connections will not be handed over across an upgrade", "pin_dir", dir, "err", err)
	return quicsteer.Load(quicsteer.Options{CIDLen: cidLen})
}

// quicPinRoot is where the per-address steering maps are pinned.
var quicPinRoot = quicsteer.DefaultPinRoot

// steerProgram is the part of *quicsteer.Program the sockets use.
type steerProgram interface {
	Attach(c syscall.Conn) error
	FreeGeneration() (uint8, error)
	SetSocket(gen uint8, slot int, c syscall.Conn) error
	SetNewest(gen uint8, workers int) error
	Newest() (quicsteer.Newest, error)
	Counters() (quicsteer.Counters, error)
	Unpin() error
	Close() error
}

var _ steerProgram = (*quicsteer.Program)(nil)

// cidGenerator issues connection IDs that carry the process generation and
// the worker slot, so the kernel program can route by them.
type cidGenerator struct {
	gen  uint8
	slot int
}

var _ quic.ConnectionIDGenerator = cidGenerator{}

func (g cidGenerator) GenerateConnectionID() (quic.ConnectionID, error) {
	var b [cidLen]byte
	if _, err := rand.Read(b[quicsteer.MinCIDLen:]); err != nil {
		return quic.ConnectionID{}, fmt.Errorf("connection id: %w", err)
	}
	quicsteer.CID(b[:], g.gen, g.slot)
	return quic.ConnectionIDFromBytes(b[:]), nil
}

func (g cidGenerator) ConnectionIDLen() int { return cidLen }

// socketStats counts the datagrams one worker socket received.
type socketStats struct {
	// Received is every datagram.
	Received atomic.Uint64
	// Owned carries a CID of this process for this socket's slot.
	Owned atomic.Uint64
	// Misrouted carries a CID of this process for another slot: the
	// kernel delivered it to the wrong worker, whose transport drops it.
	Misrouted atomic.Uint64
	// Foreign carries a CID of another generation: another weir process
	// on the port (during an upgrade), or one that has exited.
	Foreign atomic.Uint64
	_       [32]byte // keep sockets' counters on separate cache lines
}

// slotConn is one worker socket. It embeds the *net.UDPConn so quic-go keeps
// its batched reads, ECN, DF and GSO, and counts what it reads by the slot
// the datagram's CID names.
type slotConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn
	slot  int
	gen   uint8
	stats *socketStats
}

// ReadBatch is what quic-go reads through (it prefers a ReadBatch of the
// conn it is given over wrapping the socket itself).
func (c *slotConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	n, err := c.batch.ReadBatch(ms, flags)
	for i := range n {
		c.count(ms[i].Buffers[0][:ms[i].N])
	}
	return n, err
}

func (c *slotConn) count(b []byte) {
	c.stats.Received.Add(1)
	gen, slot, why := quicsteer.Route(b, cidLen)
	switch {
	case why != quicsteer.Steered:
	case gen != c.gen:
		c.stats.Foreign.Add(1)
	case slot == c.slot:
		c.stats.Owned.Add(1)
	default:
		c.stats.Misrouted.Add(1)
	}
}

// quicSockets are the worker sockets of one HTTP/3 listener, one
// quic.Transport each. With the steering program they form a SO_REUSEPORT
// group; without it there is a single socket.
type quicSockets struct {
	name       string
	log        *slog.Logger
	socks      []*slotConn
	stats      []*socketStats
	transports []*quic.Transport
	listeners  []*quic.Listener
	steer      steerProgram // nil without steering
	gen        uint8
	closeOnce  sync.Once
}

// quicWorkers is the number of worker sockets to ask for.
func quicWorkers(configured int) (int, error) {
	n := runtime.GOMAXPROCS(0)
	if configured > 0 {
		return min(configured, maxQUICWorkers), nil
	}
	if v := os.Getenv(workersEnv); v != "" {
		w, err := strconv.Atoi(v)
		if err != nil || w < 1 || w > maxQUICWorkers {
			return 0, fmt.Errorf("%s=%q: want a number in [1, %d]", workersEnv, v, maxQUICWorkers)
		}
		return w, nil
	}
	return min(n, maxQUICWorkers), nil
}

// listenQUIC binds the worker sockets of listener name on addr. When more
// than one worker is asked for it loads and attaches the steering program;
// if that fails (no privilege, old kernel) it logs once and serves on one
// socket. Every socket has SO_REUSEPORT, so a new weir can bind the port
// while this one drains.
func listenQUIC(name string, addr *net.UDPAddr, workers int, log *slog.Logger) (*quicSockets, error) {
	q := &quicSockets{name: name, log: log}
	if workers > 1 {
		err := q.bindSteered(addr, workers)
		if err == nil {
			return q, nil
		}
		_ = q.closeSockets()
		if q.steer != nil {
			_ = q.steer.Close()
			q.steer = nil
		}
		q.socks, q.stats = nil, nil
		log.Warn("QUIC steering unavailable; serving HTTP/3 on one socket", "listener", name, "workers", workers, "err", err)
	}
	conn, err := quicsteer.ListenReusePort(context.Background(), "udp", addr.String())
	if err != nil {
		return nil, err
	}
	q.gen = unsteeredGeneration
	q.add(conn, 0)
	return q, nil
}

// bindSteered binds workers sockets to addr in one SO_REUSEPORT group, puts
// each into the steering map under a generation no other process of the
// address uses, and then takes new connections.
func (q *quicSockets) bindSteered(addr *net.UDPAddr, workers int) error {
	prog, err := steerLoader(addr, q.log)
	if err != nil {
		return err
	}
	q.steer = prog
	if q.gen, err = prog.FreeGeneration(); err != nil {
		return err
	}
	for i := range workers {
		conn, err := quicsteer.ListenReusePort(context.Background(), "udp", addr.String())
		if err != nil {
			return err
		}
		q.add(conn, i)
		// Later sockets join the first one's port (addr may have port 0).
		addr = conn.LocalAddr().(*net.UDPAddr)
	}
	if err := prog.Attach(q.socks[0]); err != nil {
		return err
	}
	for i, c := range q.socks {
		if err := prog.SetSocket(q.gen, i, c); err != nil {
			return err
		}
	}
	return prog.SetNewest(q.gen, workers)
}

func (q *quicSockets) add(conn *net.UDPConn, slot int) {
	st := &socketStats{}
	q.stats = append(q.stats, st)
	q.socks = append(q.socks, &slotConn{UDPConn: conn, batch: ipv4.NewPacketConn(conn), slot: slot, gen: q.gen, stats: st})
}

// listen starts one QUIC transport and listener per socket. Transports
// share the token key, so an address-validation token one worker issued is
// accepted by another.
func (q *quicSockets) listen(tc *tls.Config, qc *quic.Config) error {
	var tokenKey quic.TokenGeneratorKey
	if _, err := rand.Read(tokenKey[:]); err != nil {
		return fmt.Errorf("token key: %w", err)
	}
	for _, c := range q.socks {
		tr := &quic.Transport{
			Conn:                  c,
			ConnectionIDGenerator: cidGenerator{gen: c.gen, slot: c.slot},
			TokenGeneratorKey:     &tokenKey,
		}
		q.transports = append(q.transports, tr)
		ln, err := tr.Listen(tc, qc)
		if err != nil {
			return fmt.Errorf("quic listen slot %d: %w", c.slot, err)
		}
		q.listeners = append(q.listeners, ln)
	}
	return nil
}

// LocalAddr is the address every worker socket is bound to.
func (q *quicSockets) LocalAddr() net.Addr { return q.socks[0].LocalAddr() }

// Workers is the number of worker sockets.
func (q *quicSockets) Workers() int { return len(q.socks) }

// Steered reports whether the kernel program routes datagrams by CID.
func (q *quicSockets) Steered() bool { return q.steer != nil }

// Close closes the listeners, transports and sockets (once), then logs what
// each socket received, and releases the steering program.
func (q *quicSockets) Close() error {
	var err error
	q.closeOnce.Do(func() {
		for _, ln := range q.listeners {
			_ = ln.Close()
		}
		for _, tr := range q.transports {
			_ = tr.Close()
		}
		err = q.closeSockets()
		q.logSummary()
		if q.steer != nil {
			// The last process of the address removes the pins; while a
			// successor is the newest, they are its.
			if n, nerr := q.steer.Newest(); nerr == nil && n.Generation == uint32(q.gen) {
				err = errors.Join(err, q.steer.Unpin())
			}
			err = errors.Join(err, q.steer.Close())
		}
	})
	return err
}

func (q *quicSockets) closeSockets() error {
	var errs []error
	for _, c := range q.socks {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// logSummary logs the per-socket counters at close: the drain record of
// where each worker's datagrams came from.
func (q *quicSockets) logSummary() {
	attrs := []any{"listener", q.name, "workers", len(q.socks), "steered", q.steer != nil}
	n := len(q.stats)
	received, owned, misrouted, foreign := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i, st := range q.stats {
		received[i], owned[i], misrouted[i], foreign[i] = st.Received.Load(), st.Owned.Load(), st.Misrouted.Load(), st.Foreign.Load()
	}
	attrs = append(attrs, "generation", q.gen, "received", received, "owned", owned, "misrouted", misrouted, "foreign", foreign)
	if q.steer != nil {
		if c, err := q.steer.Counters(); err == nil {
			fb := map[string]uint64{}
			for why, v := range c.Fallbacks {
				fb[quicsteer.Fallback(why).String()] = v
			}
			attrs = append(attrs, "kernel_steered", c.Steered, "kernel_fallbacks", fb)
		}
	}
	q.log.Info("quic sockets closed", attrs...)
}
