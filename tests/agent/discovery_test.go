// discovery_test.go — POST /discovery/services as the Agent's process collector sends it, the
// answer decoded into the Agent's model types (and strictly: no key the Agent lacks). The service
// is this test process itself: a Go binary holding a listening TCP socket, a bound UDP socket and
// a log file open for appending.
package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// strictServices decodes like the Agent but also refuses unknown keys and trailing data.
func strictServices(body []byte) (*DiscoveryServicesResponse, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var out DiscoveryServicesResponse
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return &out, nil
}

// nonEphemeralUDP binds a UDP socket on 127.0.0.1 below the ephemeral range (a port in it is a
// client's and is not reported).
func nonEphemeralUDP(t *testing.T) (net.PacketConn, uint16) {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	for p := 20000 + os.Getpid()%5000; p < low && p < 65535; p++ {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			return c, uint16(p)
		}
	}
	t.Fatalf("no free UDP port below %d", low)
	return nil, 0
}

func TestDiscoveryServices(t *testing.T) {
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpPort := uint16(tcp.Addr().(*net.TCPAddr).Port)
	udp, udpPort := nonEphemeralUDP(t)
	defer udp.Close()
	logPath := filepath.Join(t.TempDir(), "agent-suite.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	c := NewDiscoveryClient(suite.daemon.Socket)
	defer c.Close()
	self := int32(os.Getpid())
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), filepath.Ext(os.Args[0]))

	// A new pid: every field.
	got, raw, err := c.Services(DiscoveryParams{NewPids: []int32{self, impossiblePid}})
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if _, err := strictServices(raw); err != nil {
		t.Errorf("strict decoding: %v\n%s", err, raw)
	}
	want := DiscoveryService{
		PID:                 int(self),
		LogFiles:            []string{logPath},
		GeneratedName:       name,
		GeneratedNameSource: "command-line",
		TCPPorts:            []uint16{tcpPort},
		UDPPorts:            []uint16{udpPort},
		Language:            "go", // this test binary's build info
		Type:                "web_service",
	}
	if len(got.Services) != 1 || !reflect.DeepEqual(got.Services[0], want) {
		t.Errorf("new pid: got %+v\nwant %+v\n%s", got.Services, want, raw)
	}
	if got.InjectedPIDs != nil || got.GPUPIDs != nil {
		t.Errorf("injected_pids %v, gpu_pids %v, want null", got.InjectedPIDs, got.GPUPIDs)
	}

	// A heartbeat: only what changes (ports, log files); the rest zero values.
	got, raw, err = c.Services(DiscoveryParams{HeartbeatPids: []int32{self}})
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	wantHB := DiscoveryService{PID: int(self), LogFiles: []string{logPath},
		TCPPorts: []uint16{tcpPort}, UDPPorts: []uint16{udpPort}}
	if len(got.Services) != 1 || !reflect.DeepEqual(got.Services[0], wantHB) {
		t.Errorf("heartbeat: got %+v\nwant %+v\n%s", got.Services, wantHB, raw)
	}
	if _, err := strictServices(raw); err != nil {
		t.Errorf("strict decoding: %v\n%s", err, raw)
	}

	// Both at once: new pids first; nothing at all: an empty list, not null.
	got, raw, err = c.Services(DiscoveryParams{NewPids: []int32{self}, HeartbeatPids: []int32{self}})
	if err != nil || len(got.Services) != 2 || got.Services[0].Language != "go" ||
		got.Services[1].Language != "" {
		t.Errorf("new + heartbeat: %v, %v\n%s", got, err, raw)
	}
	got, raw, err = c.Services(DiscoveryParams{})
	if err != nil || got.Services == nil || len(got.Services) != 0 {
		t.Errorf("no pids: %v, %v\n%s", got, err, raw)
	}
	if string(raw) != `{"services":[],"injected_pids":null,"gpu_pids":null}`+"\n" {
		t.Errorf("no pids: body %q", raw)
	}

	// A body the collector would never send: 400, the Agent's error, and the daemon goes on.
	if _, raw, err := func() (*DiscoveryServicesResponse, []byte, error) {
		r, err := c.Raw([]byte(`{"new_pids": "all"}`))
		if err != nil {
			return nil, nil, err
		}
		if r.status != http.StatusBadRequest {
			return nil, r.body, fmt.Errorf("status %d, want 400", r.status)
		}
		return nil, r.body, nil
	}(); err != nil {
		t.Errorf("bad body: %v %s", err, raw)
	}

	// The other routes.
	cc := NewCheckClient(suite.daemon.Socket)
	defer cc.Close()
	for path, wantBody := range map[string]string{"/discovery/status": "Discovery Module is running",
		"/discovery/state": "{}\n"} {
		req, _ := http.NewRequest(http.MethodGet, "http://sysprobe"+path, nil)
		r, err := cc.doReq(cc.checkClient, req)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
		} else if string(r.body) != wantBody {
			t.Errorf("GET %s: %q, want %q", path, r.body, wantBody)
		}
	}
}
