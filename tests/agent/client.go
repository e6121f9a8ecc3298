// client.go — the Agent's system-probe client, rebuilt from what its sources do
// (datadog-agent pkg/system-probe/api/client: check.go, client.go, client_unix.go):
//
//   - one CheckClient per Agent, shared by every check that runs (concurrently) in it;
//   - two http.Clients over the unix socket, each with its own transport: the start-up client that
//     probes GET /debug/stats, and the check client for GET /<module>/check. Transport settings:
//     MaxIdleConns 2 (MaxIdleConnsPerHost is Go's default, also 2), IdleConnTimeout 30 s,
//     TLSHandshakeTimeout 1 s, ExpectContinueTimeout 50 ms; the start-up client times out after
//     10 s (5 s to the response headers), the check client after check_system_probe_timeout (60 s);
//   - the probe runs once, before the first check, under a mutex; after one success it is not
//     repeated;
//   - a non-200 answer becomes the error "non-ok status code: url <u>, status_code: <n>,
//     response: `<body>`"; a 200 body is decoded with encoding/json's Unmarshal into the check's type.
//
// For the suite the client also counts connections dialled and reused (keep-alive) and records
// the order of requests, so that the tests can assert the probe came first.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

const (
	idleConnTimeout     = 30 * time.Second
	checkTimeout        = 60 * time.Second // check_system_probe_timeout's default
	startupTimeout      = 10 * time.Second
	startupHeaderTimout = 5 * time.Second
)

// dialCounter dials the unix socket and counts the connections it made.
type dialCounter struct {
	socket string
	dials  atomic.Int64
}

func (d *dialCounter) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	d.dials.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, "unix", d.socket)
}

func agentTransport(d *dialCounter, headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           d.dial,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   1 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: 50 * time.Millisecond,
	}
}

// CheckClient mirrors the Agent's client.CheckClient.
type CheckClient struct {
	startupClient *http.Client
	checkClient   *http.Client

	mu      sync.Mutex
	started bool

	dialer *dialCounter
	reused atomic.Int64

	logMu    sync.Mutex
	requests []string // paths in the order the requests were sent
}

// NewCheckClient returns a client for the system-probe API on `socket`.
func NewCheckClient(socket string) *CheckClient {
	d := &dialCounter{socket: socket}
	return &CheckClient{
		startupClient: &http.Client{Timeout: startupTimeout,
			Transport: agentTransport(d, startupHeaderTimout)},
		checkClient: &http.Client{Timeout: checkTimeout, Transport: agentTransport(d, checkTimeout)},
		dialer:      d,
	}
}

// Dials is the number of connections this client opened so far; Reused, how many requests went
// over an already open (kept-alive) connection.
func (c *CheckClient) Dials() int64  { return c.dialer.dials.Load() }
func (c *CheckClient) Reused() int64 { return c.reused.Load() }

// Requests returns the paths requested so far, in order.
func (c *CheckClient) Requests() []string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return append([]string(nil), c.requests...)
}

// Close drops the idle connections.
func (c *CheckClient) Close() {
	c.startupClient.CloseIdleConnections()
	c.checkClient.CloseIdleConnections()
}

// response is what doReq read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends req on hc, traced; a transport error is returned as is, any status is returned.
func (c *CheckClient) do(hc *http.Client, req *http.Request) (*response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.Reused {
			c.reused.Add(1)
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	c.logMu.Lock()
	c.requests = append(c.requests, req.URL.Path)
	c.logMu.Unlock()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// doReq is the Agent's doReq: a non-200 status is an error with the Agent's wording.
func (c *CheckClient) doReq(hc *http.Client, req *http.Request) (*response, error) {
	r, err := c.do(hc, req)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return r, fmt.Errorf("non-ok status code: url %s, status_code: %d, response: `%s`",
			req.URL, r.status, string(r.body))
	}
	return r, nil
}

// EnsureStarted is the Agent's start-up probe: GET /debug/stats once, until it succeeds.
func (c *CheckClient) EnsureStarted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return nil
	}
	req, err := http.NewRequest(http.MethodGet, "http://sysprobe/debug/stats", nil)
	if err != nil {
		return err
	}
	if _, err := c.doReq(c.startupClient, req); err != nil {
		return fmt.Errorf("system-probe not started yet: %w", err)
	}
	c.started = true
	return nil
}

// ModuleURL is the Agent's client.ModuleURL.
func ModuleURL(module, endpoint string) string {
	return "http://sysprobe/" + module + endpoint
}

// GetCheck is the Agent's client.GetCheck[T]: probe, GET /<module>/check, json.Unmarshal into T.
// The raw body is returned too, for messages.
func GetCheck[T any](c *CheckClient, module string) (T, []byte, error) {
	var data T
	if err := c.EnsureStarted(); err != nil {
		return data, nil, err
	}
	req, err := http.NewRequest(http.MethodGet, ModuleURL(module, "/check"), nil)
	if err != nil {
		return data, nil, err
	}
	r, err := c.doReq(c.checkClient, req)
	if err != nil {
		return data, nil, err
	}
	err = json.Unmarshal(r.body, &data)
	return data, r.body, err
}

// ProcessClient mirrors the process-agent's use of system-probe for POST /process/stats
// (datadog-agent pkg/process/net, GetProcStats): the plain system-probe client (client.Get: 10 s
// timeout, 5 s to the headers, the same transport settings as above).
type ProcessClient struct {
	hc     *http.Client
	dialer *dialCounter
}

// NewProcessClient returns the process-agent's client for `socket`.
func NewProcessClient(socket string) *ProcessClient {
	d := &dialCounter{socket: socket}
	return &ProcessClient{
		hc:     &http.Client{Timeout: startupTimeout, Transport: agentTransport(d, startupHeaderTimout)},
		dialer: d,
	}
}

// Close drops the idle connections.
func (p *ProcessClient) Close() { p.hc.CloseIdleConnections() }

// Post sends body to /process/stats with the given headers and returns whatever came back.
func (p *ProcessClient) Post(body []byte, header map[string]string) (*response, error) {
	req, err := http.NewRequest(http.MethodPost, "http://sysprobe/process/stats", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// DiscoveryClient mirrors the core Agent's workloadmeta process collector asking system-probe for
// services (pkg/discovery/core, sysprobeclient.Post): POST /discovery/services with the JSON of
// core.Params and Content-Type application/json, on the plain system-probe client (10 s timeout,
// 5 s to the headers, the transport above); a non-200 answer is an error; the answer is decoded
// with encoding/json into model.ServicesResponse.
type DiscoveryClient struct {
	hc *http.Client
}

// NewDiscoveryClient returns the process collector's client for `socket`.
func NewDiscoveryClient(socket string) *DiscoveryClient {
	d := &dialCounter{socket: socket}
	return &DiscoveryClient{
		hc: &http.Client{Timeout: startupTimeout, Transport: agentTransport(d, startupHeaderTimout)},
	}
}

// Close drops the idle connections.
func (c *DiscoveryClient) Close() { c.hc.CloseIdleConnections() }

// Raw posts body as is and returns whatever came back.
func (c *DiscoveryClient) Raw(body []byte) (*response, error) {
	req, err := http.NewRequest(http.MethodPost, "http://sysprobe/discovery/services", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// Services is the collector's call: the params marshalled, the answer decoded. The raw body is
// returned too (the suite also decodes it strictly).
func (c *DiscoveryClient) Services(p DiscoveryParams) (*DiscoveryServicesResponse, []byte, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.Raw(body)
	if err != nil {
		return nil, nil, err
	}
	if r.status != http.StatusOK {
		return nil, r.body, fmt.Errorf("non-ok status code: url http://sysprobe/discovery/services, "+
			"status_code: %d, response: `%s`", r.status, string(r.body))
	}
	var out DiscoveryServicesResponse
	if err := json.Unmarshal(r.body, &out); err != nil {
		return nil, r.body, err
	}
	return &out, r.body, nil
}
