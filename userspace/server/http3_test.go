package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/weir-gateway/weir/dataplane/quicsteer"
	"github.com/weir-gateway/weir/internal/privileged"
	"github.com/weir-gateway/weir/internal/weirtest"
	"github.com/weir-gateway/weir/userspace/config"
)

// usePinRoot pins the steering maps under a fresh bpffs directory for the
// test and checks at cleanup that nothing is left there.
func usePinRoot(t *testing.T) {
	root := fmt.Sprintf("/sys/fs/bpf/weir-server-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	orig := quicPinRoot
	quicPinRoot = root
	t.Cleanup(func() {
		quicPinRoot = orig
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("pins left under %s (%v)", root, err)
			os.RemoveAll(root)
		}
	})
}

// startH3 runs one TLS listener with HTTP/3 and workers worker sockets.
func startH3(t *testing.T, workers string) (*Server, *quicSockets, *weirtest.SyncBuffer) {
	t.Helper()
	usePinRoot(t)
	t.Setenv(workersEnv, workers)
	logs := &weirtest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Proto)
	})
	s, err := Start([]config.Listener{{Name: "secure", Address: "127.0.0.1:0", TLS: &config.TLS{SelfSigned: true}, HTTP3: true}},
		config.Server{IdleTimeout: config.Duration(30 * time.Second)}, h, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, s.listeners[0].h3.conn, logs
}

// migratingClient is one QUIC connection that can move to a new local port,
// as after a NAT rebinding: the kernel's 4-tuple hash then picks a socket
// at random, and only CID steering finds the owner.
type migratingClient struct {
	conn *quic.Conn
	cc   *http3.ClientConn
}

func dialClient(t *testing.T, ctx context.Context, addr net.Addr) *migratingClient {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	conn, err := tr.Dial(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, &quic.Config{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return &migratingClient{conn: conn, cc: (&http3.Transport{}).NewClientConn(conn)}
}

func (c *migratingClient) get(ctx context.Context, addr net.Addr) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr.String()+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.cc.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// migrate moves the connection to a fresh local UDP socket.
func (c *migratingClient) migrate(t *testing.T, ctx context.Context) error {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	path, err := c.conn.AddPath(tr)
	if err != nil {
		return err
	}
	if err := path.Probe(ctx); err != nil {
		return err
	}
	return path.Switch()
}

// exercise runs n clients that each make a request, migrate, and make
// more; it returns the errors.
func exercise(t *testing.T, addr net.Addr, n int, probeTimeout time.Duration) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	clients := make([]*migratingClient, n)
	for i := range n {
		c := dialClient(t, ctx, addr)
		clients[i] = c
		wg.Go(func() {
			body, err := c.get(ctx, addr)
			if err == nil && body != "hello HTTP/3.0" {
				err = errors.New("body " + body)
			}
			if err != nil {
				errs[i] = err
				return
			}
			pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
			defer pcancel()
			if err := c.migrate(t, pctx); err != nil {
				errs[i] = errors.New("migrate: " + err.Error())
				return
			}
			for range 3 {
				rctx, rcancel := context.WithTimeout(ctx, probeTimeout)
				body, err := c.get(rctx, addr)
				rcancel()
				if err != nil || body != "hello HTTP/3.0" {
					errs[i] = errors.Join(errors.New("after migration"), err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Close now, while the current path's transport is still open, so the
	// server sees CONNECTION_CLOSE and its shutdown need not wait.
	for _, c := range clients {
		c.conn.CloseWithError(0, "")
	}
	return errs
}

func totals(q *quicSockets) (owned, misrouted []uint64) {
	for _, st := range q.stats {
		owned = append(owned, st.Owned.Load())
		misrouted = append(misrouted, st.Misrouted.Load())
	}
	return owned, misrouted
}

// TestPrivilegedHTTP3Steering: with the program loaded, every datagram
// carrying one of our CIDs reaches the socket of the slot the CID names,
// also after each connection moved to a new client port.
func TestPrivilegedHTTP3Steering(t *testing.T) {
	privileged.Require(t)
	s, q, logs := startH3(t, "4")
	if q.Workers() != 4 || !q.Steered() {
		t.Fatalf("workers %d steered %v; log:\n%s", q.Workers(), q.Steered(), logs)
	}
	for i, err := range exercise(t, s.HTTP3Addr("secure"), 16, 5*time.Second) {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	owned, misrouted := totals(q)
	busy := 0
	for i := range owned {
		if misrouted[i] != 0 {
			t.Errorf("socket %d read %d datagrams of other workers' connections", i, misrouted[i])
		}
		if owned[i] > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("connections owned by %d of 4 sockets (owned %v): the hash should spread 16 connections", busy, owned)
	}
	c, err := q.steer.Counters()
	if err != nil {
		t.Fatal(err)
	}
	var steered uint64
	for _, v := range c.Steered {
		steered += v
	}
	var ownedSum uint64
	for _, v := range owned {
		ownedSum += v
	}
	// Every datagram a socket read as its own went through the program,
	// which steered it (a miss would be a fallback to the hash).
	if steered < ownedSum {
		t.Errorf("kernel steered %d datagrams, sockets read %d carrying their own CID", steered, ownedSum)
	}
	col := s.QUICCollector()
	if n := testutil.CollectAndCount(col, "weir_quic_packets_steered_total"); n != 4 {
		t.Errorf("%d steered series, want 4", n)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// noopSteer is a program that does nothing: the sockets form a plain
// SO_REUSEPORT group where the kernel's 4-tuple hash decides.
type noopSteer struct{}

func (noopSteer) Attach(syscall.Conn) error                { return nil }
func (noopSteer) FreeGeneration() (uint8, error)           { return 1, nil }
func (noopSteer) SetSocket(uint8, int, syscall.Conn) error { return nil }
func (noopSteer) SetNewest(uint8, int) error               { return nil }
func (noopSteer) Newest() (quicsteer.Newest, error)        { return quicsteer.Newest{}, nil }
func (noopSteer) Counters() (quicsteer.Counters, error)    { return quicsteer.Counters{}, nil }
func (noopSteer) Unpin() error                             { return nil }
func (noopSteer) Close() error                             { return nil }

// TestHTTP3ReusePortWithoutProgramMisroutes is the control for the test
// above: the same group and clients without the program. After the
// migration the hash sends most connections to a socket that does not know
// them, and the counters must show it (else the steering test proves
// nothing).
func TestHTTP3ReusePortWithoutProgramMisroutes(t *testing.T) {
	orig := steerLoader
	steerLoader = func(*net.UDPAddr, *slog.Logger) (steerProgram, error) { return noopSteer{}, nil }
	t.Cleanup(func() { steerLoader = orig })
	s, q, _ := startH3(t, "4")
	if q.Workers() != 4 {
		t.Fatalf("workers %d", q.Workers())
	}
	errs := exercise(t, s.HTTP3Addr("secure"), 8, 500*time.Millisecond)
	_, misrouted := totals(q)
	var sum uint64
	for _, v := range misrouted {
		sum += v
	}
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	// Each of 8 migrated connections stays on its owner with chance 1/4.
	if sum == 0 || failed == 0 {
		t.Errorf("misrouted %v, %d of 8 clients failed: expected the hash to misroute", misrouted, failed)
	}
}

// TestHTTP3FallbackSingleSocket: when the program cannot be loaded, weir
// logs it once and serves HTTP/3 (migration included) on one socket.
func TestHTTP3FallbackSingleSocket(t *testing.T) {
	orig := steerLoader
	steerLoader = func(*net.UDPAddr, *slog.Logger) (steerProgram, error) { return nil, quicsteer.ErrPermission }
	t.Cleanup(func() { steerLoader = orig })
	s, q, logs := startH3(t, "4")
	if q.Workers() != 1 || q.Steered() {
		t.Fatalf("workers %d steered %v, want one unsteered socket", q.Workers(), q.Steered())
	}
	if n := strings.Count(logs.String(), "QUIC steering unavailable"); n != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", n, logs)
	}
	for i, err := range exercise(t, s.HTTP3Addr("secure"), 4, 5*time.Second) {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	owned, misrouted := totals(q)
	if owned[0] == 0 || misrouted[0] != 0 {
		t.Errorf("owned %v misrouted %v", owned, misrouted)
	}
	col := s.QUICCollector()
	want := `
# HELP weir_quic_workers HTTP/3 worker sockets of a listener, and whether the kernel steers between them.
# TYPE weir_quic_workers gauge
weir_quic_workers{listener="secure",steered="false"} 1
# HELP weir_quic_socket_misrouted_packets_total UDP datagrams a worker socket read that carry another worker's connection ID.
# TYPE weir_quic_socket_misrouted_packets_total counter
weir_quic_socket_misrouted_packets_total{listener="secure",slot="0"} 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "weir_quic_workers", "weir_quic_socket_misrouted_packets_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(col, "weir_quic_packets_steered_total"); n != 0 {
		t.Errorf("%d kernel series without the program", n)
	}
}

func TestQUICWorkersEnv(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want int
		err  bool
	}{{"1", 1, false}, {"8", 8, false}, {"64", 64, false}, {"0", 0, true}, {"65", 0, true}, {"x", 0, true}, {"-2", 0, true}} {
		t.Run(tc.val, func(t *testing.T) {
			t.Setenv(workersEnv, tc.val)
			n, err := quicWorkers(0)
			if (err != nil) != tc.err || n != tc.want {
				t.Errorf("quicWorkers() = %d, %v; want %d, err %v", n, err, tc.want, tc.err)
			}
		})
	}
}

// TestQUICWorkersConfig: listeners[].http3_workers wins over the environment.
func TestQUICWorkersConfig(t *testing.T) {
	t.Setenv(workersEnv, "8")
	for _, tc := range []struct{ configured, want int }{{1, 1}, {4, 4}, {100, maxQUICWorkers}, {0, 8}} {
		if n, err := quicWorkers(tc.configured); err != nil || n != tc.want {
			t.Errorf("quicWorkers(%d) = %d, %v; want %d", tc.configured, n, err, tc.want)
		}
	}
}

func TestCIDGenerator(t *testing.T) {
	g := cidGenerator{gen: 0x7e, slot: 5}
	seen := map[string]bool{}
	for range 1000 {
		id, err := g.GenerateConnectionID()
		if err != nil {
			t.Fatal(err)
		}
		b := id.Bytes()
		if len(b) != cidLen || g.ConnectionIDLen() != cidLen {
			t.Fatalf("length %d", len(b))
		}
		short := append([]byte{0x40}, b...)
		if gen, slot, why := quicsteer.Route(short, cidLen); why != quicsteer.Steered || slot != 5 || gen != 0x7e {
			t.Fatalf("Route(%x) = %d, %v", b, slot, why)
		}
		if seen[string(b)] {
			t.Fatalf("duplicate cid %x", b)
		}
		seen[string(b)] = true
	}
}

// process is one HTTP/3 listener as a weir process would run it, answering
// with its own name so a client can tell which process served it.
type process struct {
	h3   *http3Listener
	done chan struct{}
}

func startProcess(t *testing.T, name string, port int) *process {
	t.Helper()
	cert, err := SelfSigned("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l := config.Listener{Name: "secure", Address: "127.0.0.1:0", TLS: &config.TLS{SelfSigned: true}, HTTP3: true}
	h3, err := listenHTTP3(l, port, &tls.Config{Certificates: []tls.Certificate{cert}}, config.Server{}, h, log)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &process{h3: h3, done: make(chan struct{})}
	go func() { defer close(p.done); h3.serve(log, name) }()
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.h3.srv.Shutdown(ctx)
	_ = p.h3.conn.Close()
	<-p.done
}

// TestPrivilegedHTTP3UpgradeHandoff: while a new process (B) joins the
// port, the old one's (A) connections keep being served by A, also after
// they move to a new client port; new connections go to B; no datagram
// reaches a socket that does not own it.
func TestPrivilegedHTTP3UpgradeHandoff(t *testing.T) {
	privileged.Require(t)
	usePinRoot(t)
	t.Setenv(workersEnv, "2")
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}

	a := startProcess(t, "A", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 8
	var old []*migratingClient
	for range n {
		c := dialClient(t, ctx, addr)
		if body, err := c.get(ctx, addr); err != nil || body != "A" {
			t.Fatalf("before the upgrade: %q %v", body, err)
		}
		old = append(old, c)
	}
	b := startProcess(t, "B", port)
	if a.h3.conn.gen == b.h3.conn.gen {
		t.Fatalf("both processes use generation %d", a.h3.conn.gen)
	}
	for i, c := range old {
		if i%2 == 0 { // half of them also move to a new client port
			if err := c.migrate(t, ctx); err != nil {
				t.Fatalf("migrate %d: %v", i, err)
			}
		}
		for range 2 {
			if body, err := c.get(ctx, addr); err != nil || body != "A" {
				t.Errorf("old connection %d during the upgrade: %q %v", i, body, err)
			}
		}
	}
	for i := range n {
		c := dialClient(t, ctx, addr)
		if body, err := c.get(ctx, addr); err != nil || body != "B" {
			t.Errorf("new connection %d: %q %v", i, body, err)
		}
		c.conn.CloseWithError(0, "")
	}
	for _, c := range old {
		c.conn.CloseWithError(0, "")
	}
	for name, p := range map[string]*process{"A": a, "B": b} {
		for i, st := range p.h3.conn.stats {
			if m, f := st.Misrouted.Load(), st.Foreign.Load(); m != 0 || f != 0 {
				t.Errorf("%s socket %d: %d misrouted, %d of the other process", name, i, m, f)
			}
		}
	}
	// A drains and exits; B keeps serving new connections alone.
	a.stop()
	c := dialClient(t, ctx, addr)
	if body, err := c.get(ctx, addr); err != nil || body != "B" {
		t.Errorf("after A exited: %q %v", body, err)
	}
	c.conn.CloseWithError(0, "")
}
