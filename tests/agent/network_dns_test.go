package agent

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// dnsQuery builds a standard query (type A, recursion desired) for name.
func dnsQuery(id uint16, name string) []byte {
	q := []byte{byte(id >> 8), byte(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range strings.Split(name, ".") {
		q = append(q, byte(len(label)))
		q = append(q, label...)
	}
	return append(q, 0, 0, 1, 0, 1)
}

// serveDNS answers on pc: "agent.rptest" with A 10.9.8.6, anything else NXDOMAIN.
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		q := buf[:n]
		end := 12
		for end < n && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // the root label, type, class
		if end > n {
			continue
		}
		name := q[12 : end-4]
		r := append([]byte(nil), q[:end]...)
		r[2] |= 0x80 // QR
		if string(name) == "\x05agent\x06rptest\x00" {
			binary.BigEndian.PutUint16(r[6:], 1) // ANCOUNT
			r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 6)
		} else {
			r[3] = (r[3] &^ 0xf) | 3 // NXDOMAIN
		}
		pc.WriteTo(r, from)
	}
}

// lookup sends a query over c and waits for its answer's rcode.
func lookup(t *testing.T, c net.Conn, id uint16, name string) int {
	t.Helper()
	if _, err := c.Write(dnsQuery(id, name)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil || n < 12 {
		t.Fatalf("no answer to %s: %v", name, err)
	}
	return int(buf[3] & 0xf)
}

// TestNetworkTracerDNS: the process-agent's view of DNS stats (a DNS server of this test on
// 127.53.0.1:53; the suite's config sets collect_local_dns): a successful and an NXDOMAIN lookup
// on one UDP socket, decoded from protobuf and JSON into the Agent's types; every
// dnsStatsByDomain key indexes `domains`.
func TestNetworkTracerDNS(t *testing.T) {
	requireBPF(t)
	pc, err := net.ListenPacket("udp4", "127.53.0.1:53")
	if err != nil {
		t.Skipf("cannot serve DNS on 127.53.0.1:53: %v", err)
	}
	defer pc.Close()
	go serveDNS(pc)

	nc := NewNetworkClient(suite.daemon.Socket)
	defer nc.hc.CloseIdleConnections()
	const id = "dns-reader"
	if err := nc.Register(id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nc.GetConnections(id, contentTypeProtobuf); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp4", "127.53.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lport := c.LocalAddr().(*net.UDPAddr).Port
	if rc := lookup(t, c, 0x0101, "agent.rptest"); rc != 0 {
		t.Fatalf("rcode %d for agent.rptest", rc)
	}
	if rc := lookup(t, c, 0x0202, "nope.rptest"); rc != 3 {
		t.Fatalf("rcode %d for nope.rptest", rc)
	}

	find := func(conns *Connections) *Connection {
		for _, conn := range conns.Conns {
			if conn.Type == 1 && int(conn.Laddr.Port) == lport && conn.Raddr.Port == 53 {
				return conn
			}
		}
		return nil
	}
	check := func(what string, conns *Connections) {
		t.Helper()
		checkIndices(t, conns)
		conn := find(conns)
		if conn == nil {
			t.Fatalf("%s: UDP :%d -> 127.53.0.1:53 not reported", what, lport)
		}
		if conn.DnsSuccessfulResponses != 1 || conn.DnsFailedResponses != 1 || conn.DnsTimeouts != 0 {
			t.Errorf("%s: successes %d failures %d timeouts %d, want 1 1 0", what,
				conn.DnsSuccessfulResponses, conn.DnsFailedResponses, conn.DnsTimeouts)
		}
		if conn.DnsCountByRcode[0] != 1 || conn.DnsCountByRcode[3] != 1 || len(conn.DnsCountByRcode) != 2 {
			t.Errorf("%s: dnsCountByRcode %v", what, conn.DnsCountByRcode)
		}
		if conn.DnsSuccessLatencySum == 0 || conn.DnsFailureLatencySum == 0 {
			t.Errorf("%s: latency sums %d %d", what, conn.DnsSuccessLatencySum, conn.DnsFailureLatencySum)
		}
		names := map[string]uint32{}
		for k, s := range conn.DnsStatsByDomain {
			if k < 0 || int(k) >= len(conns.Domains) {
				t.Fatalf("%s: key %d outside domains %v", what, k, conns.Domains)
			}
			for _, n := range s.DnsCountByRcode {
				names[conns.Domains[k]] += n
			}
		}
		if names["agent.rptest"] != 1 || names["nope.rptest"] != 1 || len(names) != 2 {
			t.Errorf("%s: by domain %v (domains %v)", what, names, conns.Domains)
		}
	}
	conns, _, err := nc.GetConnections(id, contentTypeProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	check("protobuf", conns)

	// JSON (gogo jsonpb, unknown fields refused): the same lookups again.
	lookup(t, c, 0x0303, "agent.rptest")
	lookup(t, c, 0x0404, "nope.rptest")
	jconns, _, err := nc.GetConnections(id, contentTypeJSON)
	if err != nil {
		t.Fatal(err)
	}
	check("JSON", jconns)
}
