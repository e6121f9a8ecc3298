// nat_test.go — a DNAT'ed connection as the process-agent reads it: model.Connection's
// ipTranslation (agent-payload IPTranslation, gogo proto and jsonpb) carries the conntrack
// entry's reply tuple. Two network namespaces made here (A: the client, B: an echo server on
// :8080), an nft rule in A mapping <net>.100:80 to the server; the suite's daemon finds the new
// namespaces by its rescan (ringprobe.network_tracer.conntrack_rescan_ms in the suite config).
package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const natServer = `
import socket, sys, threading
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 8080))
l.listen(16)
print("ready", flush=True)
def echo(c):
    while True:
        d = c.recv(100)
        if not d:
            break
        c.sendall(d)
while True:
    c, _ = l.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
`

const natClient = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"hello")
s.recv(5)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`

// natProc runs a Python script in a namespace; its first output line is returned.
func natProc(t *testing.T, ns, script string, args ...string) (string, func()) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "python3", "-c", script}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		t.Fatalf("%s in %s: %v", args, ns, err)
	}
	return strings.TrimSpace(line), stop
}

// conntrackStats reads network_tracer.conntrack of /debug/stats.
func conntrackStats(t *testing.T, nc *NetworkClient) (namespaces, tuples int) {
	t.Helper()
	r, err := nc.get("/debug/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		NetworkTracer struct {
			Conntrack struct {
				Status     string `json:"status"`
				Namespaces int    `json:"namespaces"`
				StateSize  int    `json:"state_size"`
			} `json:"conntrack"`
		} `json:"network_tracer"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("/debug/stats: %v", err)
	}
	ct := doc.NetworkTracer.Conntrack
	if ct.Status != "ready" {
		t.Fatalf("conntrack status %q", ct.Status)
	}
	return ct.Namespaces, ct.StateSize
}

// conntrackSource is namespace ino's entry in /debug/stats network_tracer.conntrack.sources
// (found: the daemon reads conntrack there; natEntries: NAT entries learnt from it). Other
// tests make and remove namespaces meanwhile: counts over all namespaces would race with them.
func conntrackSource(t *testing.T, nc *NetworkClient, ino uint32) (found bool, natEntries int) {
	t.Helper()
	r, err := nc.get("/debug/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		NetworkTracer struct {
			Conntrack struct {
				Sources []struct {
					Netns      uint32 `json:"netns"`
					NatEntries int    `json:"nat_entries"`
				} `json:"sources"`
			} `json:"conntrack"`
		} `json:"network_tracer"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("/debug/stats: %v", err)
	}
	for _, s := range doc.NetworkTracer.Conntrack.Sources {
		if s.Netns == ino {
			return true, s.NatEntries
		}
	}
	return false, 0
}

func waitFor(t *testing.T, what string, pred func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if pred() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func netnsInode(t *testing.T, ns string) uint32 {
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+ns, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

func TestNetworkTracerNATTranslation(t *testing.T) {
	requireBPF(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is needed (tools/setup installs nftables)")
	}
	nc := NewNetworkClient(suite.daemon.Socket)
	defer nc.hc.CloseIdleConnections()
	conntrackStats(t, nc) // fails unless conntrack is ready

	k := os.Getpid()%200 + 20
	a, b := fmt.Sprintf("rpga%d", os.Getpid()), fmt.Sprintf("rpgb%d", os.Getpid())
	ipA, ipB, vip := fmt.Sprintf("10.234.%d.1", k), fmt.Sprintf("10.234.%d.2", k), fmt.Sprintf("10.234.%d.100", k)
	defer exec.Command("ip", "netns", "del", a).Run()
	defer exec.Command("ip", "netns", "del", b).Run()
	for _, c := range [][]string{
		{"ip", "netns", "add", a}, {"ip", "netns", "add", b},
		{"ip", "link", "add", "rpgva", "netns", a, "type", "veth", "peer", "name", "rpgvb", "netns", b},
		{"ip", "-n", a, "addr", "add", ipA + "/24", "dev", "rpgva"},
		{"ip", "-n", b, "addr", "add", ipB + "/24", "dev", "rpgvb"},
		{"ip", "-n", a, "link", "set", "rpgva", "up"}, {"ip", "-n", b, "link", "set", "rpgvb", "up"},
		{"ip", "netns", "exec", a, "nft", "add", "table", "ip", "rpg"},
		{"ip", "netns", "exec", a, "nft", "add", "chain", "ip", "rpg", "out",
			"{ type nat hook output priority -100; }"},
		{"ip", "netns", "exec", a, "nft", "add", "rule", "ip", "rpg", "out", "ip", "daddr", vip,
			"tcp", "dport", "80", "dnat", "to", ipB + ":8080"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	inoA := netnsInode(t, a)
	if line, stop := natProc(t, b, natServer, ipB); line != "ready" {
		stop()
		t.Fatalf("server: %q", line)
	} else {
		defer stop()
	}
	waitFor(t, "the daemon to read conntrack in the client's namespace", func() bool {
		found, _ := conntrackSource(t, nc, inoA)
		return found
	})
	line, stopClient := natProc(t, a, natClient, vip, "80")
	defer stopClient()
	port, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("client: %q", line)
	}
	line, stopDirect := natProc(t, a, natClient, ipB, "8080")
	defer stopDirect()
	directPort, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("direct client: %q", line)
	}
	waitFor(t, "the NAT entry", func() bool {
		_, n := conntrackSource(t, nc, inoA)
		return n >= 1
	})

	for _, accept := range []string{contentTypeProtobuf, contentTypeJSON} {
		id := map[string]string{contentTypeProtobuf: "nat-pb", contentTypeJSON: "nat-json"}[accept]
		conns, _, err := nc.GetConnections(id, accept)
		if err != nil {
			t.Fatal(err)
		}
		checkIndices(t, conns)
		var nat, direct *Connection
		for _, c := range conns.Conns {
			if c.NetNS == inoA && int(c.Laddr.Port) == port && c.Raddr.Port == 80 {
				nat = c
			}
			if c.NetNS == inoA && int(c.Laddr.Port) == directPort && c.Raddr.Port == 8080 {
				direct = c
			}
		}
		if nat == nil || direct == nil {
			t.Fatalf("%s: connections missing (NAT %v, direct %v) among %d", accept, nat != nil,
				direct != nil, len(conns.Conns))
		}
		want := IPTranslation{ReplSrcIP: ipB, ReplDstIP: ipA, ReplSrcPort: 8080, ReplDstPort: int32(port)}
		if nat.Raddr.Ip != vip || nat.IpTranslation == nil || *nat.IpTranslation != want || !nat.IntraHost {
			t.Errorf("%s: NAT connection raddr %v ipTranslation %v intraHost %v; want %s, %v, true",
				accept, nat.Raddr, nat.IpTranslation, nat.IntraHost, vip, want)
		}
		if direct.IpTranslation != nil {
			t.Errorf("%s: direct connection has ipTranslation %v", accept, direct.IpTranslation)
		}
	}
}
