// netpath_test.go — the ping and traceroute routes as the Agent calls them:
//
//   - ping: pkg/process/net RemoteSysProbeUtil.GetPing (10 s timeout, 5 s to the headers,
//     Accept: application/json; a 400 becomes an error carrying the body, any other non-200 an
//     error), then pinger_linux.go's json.Unmarshal into pinger.Result — what the SNMP device
//     check does with ping.linux.use_raw_socket;
//   - traceroute: comp/networkpath/traceroute/impl-remote (every parameter in the URL, a context
//     timeout of timeout*max_ttl + 10 s, 404 and other non-200 answers as errors), then
//     json.Unmarshal into payload.NetworkPath and payload.ValidateNetworkPath — what the
//     network_path check and the NPM path collector do.
//
// Both need CAP_NET_RAW in the daemon: they run when the suite runs as root (the daemon then has
// both modules enabled).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// netModulesEnabled: ping and traceroute are in the suite's config (root only).
func netModulesEnabled() bool {
	for _, m := range suite.modules {
		if m == "ping" {
			return true
		}
	}
	return false
}

func requireNetModules(t *testing.T) {
	t.Helper()
	if !netModulesEnabled() {
		t.Skip("ping and traceroute need CAP_NET_RAW: the suite runs them as root only")
	}
}

// sysProbeUtil mirrors the http.Client of pkg/process/net newSystemProbe.
func sysProbeUtil() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
			DialContext: func(_ context.Context, _, _ string) (net.Conn, error) {
				return net.Dial("unix", suite.daemon.Socket)
			},
			TLSHandshakeTimeout:   1 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			ExpectContinueTimeout: 50 * time.Millisecond,
		},
	}
}

// getPing is RemoteSysProbeUtil.GetPing followed by pinger_linux.go's decoding. A non-empty
// rawQuery replaces the query the Agent would build (for what the Agent never sends).
func getPing(hc *http.Client, clientID, host string, count int, interval, timeout time.Duration,
	rawQuery string) (*PingResult, error) {
	url := fmt.Sprintf("http://sysprobe/ping/ping/%s?client_id=%s&count=%d&interval=%d&timeout=%d",
		host, clientID, count, interval, timeout)
	if rawQuery != "" {
		url = "http://sysprobe/ping/ping/" + host + "?" + rawQuery
	}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusBadRequest {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("ping request failed: url: %s, status code: %d", url, resp.StatusCode)
		}
		return nil, fmt.Errorf("ping request failed: url: %s, status code: %d, error: %s", url,
			resp.StatusCode, string(body))
	} else if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ping request failed: url: %s, status code: %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var result PingResult
	if err := json.Unmarshal(body, &result); err != nil {
		return nil, err
	}
	return &result, nil
}

func TestPingAsTheSNMPCheck(t *testing.T) {
	requireNetModules(t)
	hc := sysProbeUtil()
	defer hc.CloseIdleConnections()
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		// The SNMP check's defaults: count 2, interval 20 ms, timeout 3 s (pinger.go).
		start := time.Now()
		r, err := getPing(hc, "pinger-agent-linux", host, 2, 20*time.Millisecond, 3*time.Second, "")
		if err != nil {
			t.Fatalf("ping %s: %v", host, err)
		}
		if !r.CanConnect || r.PacketLoss != 0 || r.AvgRtt <= 0 || r.AvgRtt > time.Second {
			t.Errorf("ping %s: %+v, want reachable, 0 %% loss, a positive RTT", host, r)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("ping %s took %v", host, took)
		}
	}
	// A parameter system-probe cannot read: the Agent reports the daemon's reason (upstream's
	// handler answers 200 with that text, which the Agent then fails to decode as JSON).
	_, err := getPing(hc, "pinger-agent-linux", "127.0.0.1", 0, 0, 0, "client_id=x&count=x")
	if err == nil || !strings.Contains(err.Error(), "status code: 400, error: invalid count") {
		t.Errorf("a bad count: %v, want the Agent's 400 error with the reason", err)
	}
}

// getTraceroute is impl-remote's getTracerouteFromSysProbe, then Run's decoding.
func getTraceroute(hc *http.Client, host string, port uint16, protocol string, maxTTL uint8,
	timeout time.Duration, queries, e2e int, reverseDNS bool) (*NetworkPath, error) {
	httpTimeout := timeout*time.Duration(maxTTL) + 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	url := fmt.Sprintf("http://sysprobe/traceroute/traceroute/%s?client_id=%s&port=%d&max_ttl=%d"+
		"&timeout=%d&protocol=%s&tcp_method=%s&tcp_syn_paris_traceroute_mode=%t"+
		"&disable_windows_driver=%t&reverse_dns=%t&traceroute_queries=%d&e2e_queries=%d",
		host, "traceroute-agent", port, maxTTL, timeout, protocol, "syn", false, false, reverseDNS,
		queries, e2e)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("traceroute request failed: url: %s, status code: %d, please check "+
			"that the traceroute module is enabled", url, resp.StatusCode)
	} else if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("traceroute request failed: url: %s, status code: %d, error: %s",
			url, resp.StatusCode, string(body))
	}
	var path NetworkPath
	if err := json.Unmarshal(body, &path); err != nil {
		return nil, fmt.Errorf("error unmarshalling response: %w", err)
	}
	return &path, ValidateNetworkPath(&path)
}

func TestTracerouteAsTheNetworkPathCheck(t *testing.T) {
	requireNetModules(t)
	// The remote component's client: no timeout of its own (the context bounds each request).
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", suite.daemon.Socket)
		},
	}}
	defer hc.CloseIdleConnections()
	for _, proto := range []string{"UDP", "TCP", "ICMP"} {
		// The check's defaults but a short timeout, max_ttl 10 and few e2e probes (the check's
		// 50 are spread over max_ttl * timeout: 30 s with its defaults).
		start := time.Now()
		path, err := getTraceroute(hc, "127.0.0.1", 0, proto, 10, 100*time.Millisecond, 3, 5, true)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		took := time.Since(start)
		if string(path.Protocol) != proto || path.Destination.Hostname != "127.0.0.1" {
			t.Errorf("%s: protocol %q, destination %+v", proto, path.Protocol, path.Destination)
		}
		if len(path.Traceroute.Runs) != 3 {
			t.Fatalf("%s: %d runs, want 3", proto, len(path.Traceroute.Runs))
		}
		for _, run := range path.Traceroute.Runs {
			if len(run.Hops) != 1 || !run.Hops[0].IPAddress.Equal(net.IPv4(127, 0, 0, 1)) ||
				!run.Hops[0].Reachable || run.Hops[0].RTT <= 0 || run.Hops[0].TTL != 1 {
				t.Errorf("%s: hops %+v, want one reachable hop 127.0.0.1", proto, run.Hops)
			}
			if len(run.Hops) == 1 && (len(run.Hops[0].ReverseDNS) != 1 ||
				strings.TrimSuffix(run.Hops[0].ReverseDNS[0], ".") != "localhost") {
				t.Errorf("%s: reverse_dns %v, want localhost (from /etc/hosts)", proto,
					run.Hops[0].ReverseDNS)
			}
		}
		if path.Traceroute.HopCount != (HopCountStats{Avg: 1, Min: 1, Max: 1}) {
			t.Errorf("%s: hop_count %+v", proto, path.Traceroute.HopCount)
		}
		e := path.E2eProbe
		if e.PacketsSent != 5 || e.PacketsReceived != 5 || e.PacketLossPercentage != 0 ||
			len(e.RTTs) != 5 || e.RTT.Min <= 0 || e.RTT.Avg < e.RTT.Min || e.RTT.Max < e.RTT.Avg {
			t.Errorf("%s: e2e_probe %+v", proto, e)
		}
		// 5 e2e probes spread over 10 * 100 ms: the last leaves 800 ms after the first (the
		// loop's clock is read once per turn: allow it a little early).
		if took < 700*time.Millisecond || took > 4*time.Second {
			t.Errorf("%s: took %v, want about 0.95 s (the e2e probes' spread)", proto, took)
		}
	}
	// A parameter system-probe refuses: the Agent's error carries the reason.
	_, err := getTraceroute(hc, "127.0.0.1", 0, "SCTP", 30, time.Second, 1, 0, false)
	if err == nil || !strings.Contains(err.Error(), "status code: 400, error: invalid params for "+
		"host: 127.0.0.1: unknown protocol") {
		t.Errorf("protocol SCTP: %v", err)
	}
}
