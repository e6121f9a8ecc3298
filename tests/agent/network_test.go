// network_test.go — GET /network_tracer/connections as the process-agent calls it
// (datadog-agent pkg/process/net common.go: Register, then GetConnections with
// Accept: application/protobuf, the answer decoded by its Content-type; pkg/process/checks
// net.go reads it), and as a JSON client reads it (gogo jsonpb, unknown fields refused).
package agent

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gogo/protobuf/jsonpb"
	"github.com/gogo/protobuf/proto"
)

// processAgentClientID is the process-agent's client id (pkg/process/net ProcessAgentClientID).
const processAgentClientID = "process-agent-unique-id"

// NetworkClient mirrors the process-agent's system-probe client for network_tracer: the plain
// client (10 s timeout, 5 s to the headers, MaxIdleConns 2, 30 s idle).
type NetworkClient struct{ hc *http.Client }

func NewNetworkClient(socket string) *NetworkClient {
	d := &dialCounter{socket: socket}
	return &NetworkClient{hc: &http.Client{Timeout: startupTimeout,
		Transport: agentTransport(d, startupHeaderTimout)}}
}

func (n *NetworkClient) get(path string, header map[string]string) (*response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://unix"+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := n.hc.Do(req)
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

// Register is the process-agent's Register(clientID): GET, a non-200 only warns there.
func (n *NetworkClient) Register(id string) error {
	r, err := n.get("/network_tracer/register?client_id="+id, nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("register: status %d: %s", r.status, r.body)
	}
	return nil
}

// GetConnections is the process-agent's GetConnections: protobuf asked for, the answer decoded
// by its Content-type (pkg/network/encoding/unmarshal: protobuf if it says so, else jsonpb).
func (n *NetworkClient) GetConnections(id string, accept string) (*Connections, string, error) {
	r, err := n.get("/network_tracer/connections?client_id="+id, map[string]string{"Accept": accept})
	if err != nil {
		return nil, "", err
	}
	if r.status != http.StatusOK {
		return nil, "", fmt.Errorf("conn request failed: url: http://unix/network_tracer/connections?client_id=%s, status code: %d", id, r.status)
	}
	ct := r.header.Get("Content-type")
	conns := new(Connections)
	if strings.Contains(ct, contentTypeProtobuf) {
		err = proto.Unmarshal(r.body, conns)
	} else {
		strict := jsonpb.Unmarshaler{AllowUnknownFields: false}
		err = strict.Unmarshal(bytes.NewReader(r.body), conns)
	}
	if err != nil {
		return nil, ct, fmt.Errorf("decode %s answer: %v; body: %q", ct, err, excerpt(r.body))
	}
	return conns, ct, nil
}

// ownNetNS is the inode of this process's network namespace.
func ownNetNS(t *testing.T) uint32 {
	link, err := os.Readlink("/proc/self/ns/net") // net:[4026531840]
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 32)
	if err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	return uint32(n)
}

// checkIndices: what the process-agent indexes or dereferences (pkg/process/checks net.go,
// resolver.go) must be valid, or the check panics.
func checkIndices(t *testing.T, c *Connections) {
	t.Helper()
	for _, conn := range c.Conns {
		if conn.Raddr == nil || conn.Laddr == nil {
			t.Errorf("connection without laddr/raddr: %v", conn)
			continue
		}
		if conn.RouteIdx >= int32(len(c.Routes)) || conn.RouteIdx < -1 {
			t.Errorf("routeIdx %d with %d routes: %v", conn.RouteIdx, len(c.Routes), conn)
		}
		for _, tag := range conn.Tags {
			if int(tag) >= len(c.Tags) {
				t.Errorf("tag index %d with %d tags", tag, len(c.Tags))
			}
		}
		for k := range conn.DnsStatsByDomain {
			if int(k) >= len(c.Domains) || k < 0 {
				t.Errorf("dnsStatsByDomain key %d with %d domains", k, len(c.Domains))
			}
		}
		for k := range conn.DnsStatsByDomainByQueryType {
			if int(k) >= len(c.Domains) || k < 0 {
				t.Errorf("dnsStatsByDomainByQueryType key %d with %d domains", k, len(c.Domains))
			}
		}
	}
}

// loopbackPair makes a TCP connection on 127.0.0.1 in this process, sends `up` bytes from the
// client to the server and `down` back, and returns the client's local port and the server's.
func loopbackPair(t *testing.T, up, down int) (net.Conn, net.Conn, int, int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(make([]byte, up)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, up)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(make([]byte, down)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, down)); err != nil {
		t.Fatal(err)
	}
	return client, server, client.LocalAddr().(*net.TCPAddr).Port, ln.Addr().(*net.TCPAddr).Port
}

func findConn(c *Connections, lport, rport int) *Connection {
	for _, conn := range c.Conns {
		if conn.Type == 0 && int(conn.Laddr.Port) == lport && int(conn.Raddr.Port) == rport {
			return conn
		}
	}
	return nil
}

// checkPair asserts both ends of a loopbackPair exchange as this process made them.
func checkPair(t *testing.T, c *Connections, cport, sport, up, down int) {
	t.Helper()
	ns := ownNetNS(t)
	pid := int32(os.Getpid())
	cl, sv := findConn(c, cport, sport), findConn(c, sport, cport)
	if cl == nil || sv == nil {
		t.Fatalf("connection 127.0.0.1:%d <-> :%d missing (client end %v, server end %v) among %d",
			cport, sport, cl != nil, sv != nil, len(c.Conns))
	}
	for _, x := range []struct {
		name       string
		conn       *Connection
		sent, recv int
		dir        ConnectionDirection
		eph        EphemeralPortState
	}{
		{"client", cl, up, down, 2, 1},
		{"server", sv, down, up, 1, 1},
	} {
		conn := x.conn
		if conn.Pid != pid || conn.NetNS != ns || conn.Family != 0 || conn.Laddr.Ip != "127.0.0.1" ||
			conn.Raddr.Ip != "127.0.0.1" {
			t.Errorf("%s end: pid %d netNS %d family %v laddr %v raddr %v; want pid %d netNS %d v4 "+
				"127.0.0.1", x.name, conn.Pid, conn.NetNS, conn.Family, conn.Laddr, conn.Raddr, pid, ns)
		}
		if conn.LastBytesSent != uint64(x.sent) || conn.LastBytesReceived != uint64(x.recv) {
			t.Errorf("%s end: sent %d received %d; want %d and %d", x.name, conn.LastBytesSent,
				conn.LastBytesReceived, x.sent, x.recv)
		}
		if conn.Direction != x.dir || !conn.IntraHost || conn.LastTcpEstablished != 1 ||
			conn.RouteIdx != -1 || conn.Protocol == nil || len(conn.Protocol.Stack) != 0 ||
			conn.LastPacketsSent == 0 || conn.LastPacketsReceived == 0 || conn.Rtt == 0 {
			t.Errorf("%s end: %v", x.name, conn)
		}
		if conn.IsLocalPortEphemeral != x.eph { // both ports come from the ephemeral range here
			t.Errorf("%s end: isLocalPortEphemeral %v", x.name, conn.IsLocalPortEphemeral)
		}
	}
}

// TestNetworkTracerConnections: the process-agent's calls, then a JSON reader's.
func TestNetworkTracerConnections(t *testing.T) {
	requireBPF(t)
	nc := NewNetworkClient(suite.daemon.Socket)
	defer nc.hc.CloseIdleConnections()
	if err := nc.Register(processAgentClientID); err != nil {
		t.Fatal(err)
	}
	const up, down = 12345, 678
	client, server, cport, sport := loopbackPair(t, up, down)
	defer client.Close()
	defer server.Close()

	conns, ct, err := nc.GetConnections(processAgentClientID, contentTypeProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	if ct != contentTypeProtobuf {
		t.Errorf("Content-type %q, want %s", ct, contentTypeProtobuf)
	}
	checkIndices(t, conns)
	checkPair(t, conns, cport, sport, up, down)
	if conns.AgentConfiguration == nil || !conns.AgentConfiguration.NpmEnabled {
		t.Errorf("agentConfiguration %v: npmEnabled must be true", conns.AgentConfiguration)
	}
	if conns.CORETelemetryByAsset["tracer"] != 2 { // SuccessDefaultBTF
		t.Errorf("CORETelemetryByAsset %v", conns.CORETelemetryByAsset)
	}
	if _, ok := conns.ConnTelemetryMap["conns_bpf_map_size"]; !ok {
		t.Errorf("connTelemetryMap %v: no conns_bpf_map_size", conns.ConnTelemetryMap)
	}
	// Every key is one of the Agent's ConnTelemetryType names (pkg/network/event_common.go:
	// ConnTelemetryTypes and MonotonicConnTelemetryTypes), which the process-agent forwards by
	// name; a misspelt key would be a silent loss.
	upstreamKeys := map[string]bool{
		"conns_bpf_map_size": true, "conntrack_sampling_percent": true, "dns_stats_dropped": true,
		"driver_flows_missed_max_exceeded": true, "kprobes_triggered": true, "kprobes_missed": true,
		"closed_conn_dropped": true, "conn_dropped": true, "conntrack_registers": true,
		"dns_packets_processed": true, "conns_closed": true, "udp_sends_processed": true,
		"udp_sends_missed": true, "dns_packets_dropped": true, "perf_lost": true,
	}
	for k, v := range conns.ConnTelemetryMap {
		if !upstreamKeys[k] {
			t.Errorf("connTelemetryMap key %q (= %d) is not one of the Agent's", k, v)
		}
		if v < 0 {
			t.Errorf("connTelemetryMap %q = %d: negative", k, v)
		}
	}
	for _, k := range []string{"conns_closed", "conn_dropped", "closed_conn_dropped", "perf_lost",
		"udp_sends_processed", "udp_sends_missed", "dns_packets_processed"} {
		if _, ok := conns.ConnTelemetryMap[k]; !ok {
			t.Errorf("connTelemetryMap %v: no %s", conns.ConnTelemetryMap, k)
		}
	}

	// The next poll: nothing new on that connection, so it is left out.
	again, _, err := nc.GetConnections(processAgentClientID, contentTypeProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	if c := findConn(again, cport, sport); c != nil {
		t.Errorf("idle connection reported again: %v", c)
	}

	// A JSON client (its first poll: the whole history), decoded strictly by gogo jsonpb.
	jconns, jct, err := nc.GetConnections("json-reader", contentTypeJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(jct, contentTypeJSON) {
		t.Errorf("Content-type %q, want %s", jct, contentTypeJSON)
	}
	checkIndices(t, jconns)
	checkPair(t, jconns, cport, sport, up, down)
	if jconns.KernelHeaderFetchResult != 0 || jconns.CompilationTelemetryByAsset["tracer"] == nil {
		t.Errorf("JSON: kernelHeaderFetchResult %v, compilationTelemetryByAsset %v",
			jconns.KernelHeaderFetchResult, jconns.CompilationTelemetryByAsset)
	}
}
