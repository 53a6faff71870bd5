package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// System is one target of the load: where clients connect, what they send,
// and the process whose CPU and memory the report shows.
type System struct {
	Name string
	// Desc says what the system does, for the report.
	Desc string
	// URL is the base URL ("http://127.0.0.1:PORT").
	URL string
	// H2CURL, when set, is where h2c clients go instead of URL (nginx 1.22
	// serves h2c only on a port of its own).
	H2CURL string
	// H3URL, when set, is where HTTP/3 clients go ("https://127.0.0.1:PORT");
	// a system without one does not speak HTTP/3 and skips h3 scenarios.
	H3URL string
	// Header is sent with every request (credentials).
	Header http.Header
	// Proc is the process sampled for CPU and memory.
	Proc *Process
	// MetricsURL, when set, is a Prometheus endpoint of the system.
	MetricsURL string
	// stop ends what the system started, in order.
	stop []func() error
}

// urlFor is the base URL for clients speaking proto.
func (s *System) urlFor(proto string) string {
	switch {
	case proto == "h2c" && s.H2CURL != "":
		return s.H2CURL
	case proto == "h3":
		return s.H3URL
	}
	return s.URL
}

// Speaks reports whether the system serves clients speaking proto.
func (s *System) Speaks(proto string) bool { return s.urlFor(proto) != "" }

// headers are the request headers for the system: its credentials and the
// JSON content type.
func (s *System) headers() http.Header {
	h := s.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return h
}

// Stop ends the system's processes.
func (s *System) Stop() error {
	var errs []error
	for _, f := range s.stop {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

func bearer(key string) http.Header {
	return http.Header{"Authorization": {"Bearer " + key}}
}

// StartMock runs the mock upstream binary (bench/cmd/mockupstream) on a free
// loopback port with UpstreamKey and extra flags; it returns the process and
// its base URL.
func (e *Env) StartMock(name, bin string, extra ...string) (*Process, string, error) {
	args := append([]string{"-addr", "127.0.0.1:0", "-key", UpstreamKey, "-record", "0"}, extra...)
	p, err := e.Start(name, "mock", bin, args, nil)
	if err != nil {
		return nil, "", err
	}
	line, err := p.WaitOutput(func(l string) bool { return strings.HasPrefix(l, "listening on ") }, 30*time.Second)
	if err != nil {
		_ = p.Stop()
		return nil, "", err
	}
	return p, strings.TrimPrefix(line, "listening on "), nil
}

// Direct is the mock itself as a system: the baseline every proxy is
// compared with.
func Direct(mock *Process, mockURL string) *System {
	return &System{Name: "direct", Desc: "client → mock upstream, no proxy", URL: mockURL, Header: bearer(UpstreamKey), Proc: mock}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// CPUCount is the number of CPUs in a taskset list such as "1", "0-3" or "0,2-3".
func CPUCount(list string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("cpu list %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

// waitHTTP polls url until it answers with any HTTP status.
func waitHTTP(p *Process, url string, wantOK bool, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if !wantOK || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if done, exitErr := p.Exited(); done {
			return fmt.Errorf("%s exited (%v):\n%s", p.Name, exitErr, p.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %v (%v):\n%s", p.Name, url, timeout, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartNginx runs nginx as a reverse proxy to the mock, with one worker per
// CPU of the "sut" pin (auto when unpinned).
func (e *Env) StartNginx(bin, mockURL string) (*System, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	h2cPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	// Absolute: nginx reads relative -c and -e paths against its -p prefix
	// (a relative -out directory left it without its configuration).
	dir, err := filepath.Abs(filepath.Join(e.Dir, "nginx"))
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	workers := 0
	if cpus := e.Pin["sut"]; cpus != "" {
		if workers, err = CPUCount(cpus); err != nil {
			return nil, err
		}
	}
	listen, listenH2C := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", h2cPort)
	conf := NginxConfig(listen, listenH2C, strings.TrimPrefix(mockURL, "http://"), dir, workers, os.Geteuid() == 0)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	p, err := e.Start("nginx", "sut", bin, []string{"-e", filepath.Join(dir, "nginx-error.log"), "-c", confPath, "-p", dir}, nil)
	if err != nil {
		return nil, err
	}
	url := "http://" + listen
	if err := waitHTTP(p, url+"/", false, 30*time.Second); err != nil {
		_ = p.Stop()
		return nil, err
	}
	desc := "nginx reverse proxy (keep-alive upstream, buffering off, access log to file)"
	return &System{Name: "nginx", Desc: desc, URL: url, H2CURL: "http://" + listenH2C, Header: bearer(UpstreamKey), Proc: p, stop: []func() error{p.Stop}}, nil
}

// StartRedis runs a throwaway redis-server without persistence.
func (e *Env) StartRedis(bin string) (*Process, string, error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := e.Start("redis", "redis", bin, []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", e.Dir}, nil)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pingRedis(addr) == nil {
			return p, addr, nil
		}
		if done, exitErr := p.Exited(); done || time.Now().After(deadline) {
			_ = p.Stop()
			return nil, "", fmt.Errorf("redis not ready (%v):\n%s", exitErr, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}

// StartWeir runs the weir binary on the variant's generated config and waits
// for /readyz. redisAddr is used by variants with Redis.
func (e *Env) StartWeir(bin string, v WeirVariant, mockURL, redisAddr string) (*System, error) {
	dir := filepath.Join(e.Dir, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", v.Name, err)
	}
	confPath := filepath.Join(dir, "weir.yaml")
	if err := os.WriteFile(confPath, []byte(WeirConfig(v, mockURL, dir, redisAddr)), 0o600); err != nil {
		return nil, fmt.Errorf("%s: %w", v.Name, err)
	}
	p, err := e.Start(v.Name, "sut", bin, []string{"-config", confPath}, nil)
	if err != nil {
		return nil, err
	}
	var listen, h3, admin string
	_, err = p.WaitOutput(func(l string) bool {
		var m struct {
			Msg      string `json:"msg"`
			Listener string `json:"listener"`
			Address  string `json:"address"`
			Admin    string `json:"admin"`
		}
		if json.Unmarshal([]byte(l), &m) != nil {
			return false
		}
		switch {
		case m.Msg == "listening" && m.Listener == "bench":
			listen = m.Address
		case m.Msg == "listening http3" && m.Listener == "bench-h3":
			h3 = m.Address
		case m.Msg == "weir started":
			admin = m.Admin
		}
		return listen != "" && h3 != "" && admin != ""
	}, 30*time.Second)
	if err == nil {
		err = waitHTTP(p, "http://"+admin+"/readyz", true, 30*time.Second)
	}
	if err != nil {
		_ = p.Stop()
		return nil, err
	}
	sys := &System{Name: v.Name, Desc: "weir: " + v.Describe(), URL: "http://" + listen, H3URL: "https://" + h3, Proc: p,
		MetricsURL: "http://" + admin + "/metrics", stop: []func() error{p.Stop}}
	if v.Tenants {
		sys.Header = bearer(TenantKey)
	}
	return sys, nil
}
