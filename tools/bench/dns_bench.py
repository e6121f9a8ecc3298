#!/usr/bin/env python3
"""dns_bench.py — what network_tracer's DNS statistics cost (issue 14).

Root. A network namespace with dnsmasq (Debian dnsmasq-base) answering NAMES names (each its own
address; one lookup in ten asks a name it does not have: NXDOMAIN), joined to the host's namespace
by a veth pair. The daemon (BIN) runs with network_tracer on its defaults, alternately with DNS
inspection off (`disable_dns_inspection = true`, the reference) and on, ROUNDS times each, on a
fresh namespace each time:

  load   RATE lookups per second for SECONDS from the host's namespace, each from a new UDP socket
         (as a stub resolver does: a new connection to port 53 per lookup), paced every 1 ms.
  poll   meanwhile one client polls /connections (protobuf, as the process-agent) every second:
         each answer carries the last second's ~RATE DNS connections, with their DNS stats when on,
         and HOLD other connections: UDP sockets on loopback that each send one datagram before
         every poll (so that every answer has them; HOLD=0: DNS connections only, the worst case
         for the ratio). Median latency (request to last byte), bytes.
  cpu    the daemon's on-CPU time (schedstat) over the window, per second: % of one CPU.
  memory the DNS tracker's reverse cache (/debug/stats dns.reverse_cache_bytes, entries), pending
         queries, and the daemon's RSS at the end.

Reported as off, on and on/off (medians over the rounds), measured in the same run.
usage: dns_bench.py BIN [RATE=1000] [SECONDS=10] [ROUNDS=2] [NAMES=200] [HOLD=10000]
"""
import json, os, resource, socket, statistics, struct, subprocess, sys, tempfile, threading, time

from nt_bench_util import get, rss_kib, sched_ns, sh, stats, wait

BIN = sys.argv[1]
RATE = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
SECONDS = int(sys.argv[3]) if len(sys.argv) > 3 else 10
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
NAMES = int(sys.argv[5]) if len(sys.argv) > 5 else 200
HOLD = int(sys.argv[6]) if len(sys.argv) > 6 else 10000
NS = f"rpdb{os.getpid()}"
HOST_IF = f"rpdb{os.getpid() % 100000}"
K = os.getpid() % 200 + 20
HOST_IP, SERVER_IP = f"10.233.{K}.1", f"10.233.{K}.2"


def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def name(i):
    return f"h{i}.rpbench"


class Namespace:
    def __enter__(self):
        sh(f"ip netns add {NS}")
        sh(f"ip link add {HOST_IF} type veth peer name rpdbs netns {NS}")
        sh(f"ip addr add {HOST_IP}/24 dev {HOST_IF}; ip link set {HOST_IF} up")
        sh(f"ip -n {NS} link set lo up; ip -n {NS} addr add {SERVER_IP}/24 dev rpdbs")
        sh(f"ip -n {NS} link set rpdbs up")
        self.conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        for i in range(NAMES):
            self.conf.write(f"host-record={name(i)},10.77.{i // 250}.{i % 250 + 1}\n")
        self.conf.close()
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", NS, "dnsmasq", "--keep-in-foreground",
             f"--conf-file={self.conf.name}", "--no-resolv", "--no-hosts", "--bind-interfaces",
             f"--listen-address={SERVER_IP}", "--except-interface=lo", "--port=53",
             "--user=root", "--pid-file", "--local=/rpbench/", "--cache-size=0",
             "--dns-forward-max=10000"], stderr=subprocess.DEVNULL)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        s.connect((SERVER_IP, 53))

        def answers():
            s.send(query(1, name(0)))
            return len(s.recv(512)) > 12

        assert wait(answers, 10), "dnsmasq does not answer"
        s.close()
        return self

    def __exit__(self, *a):
        self.dnsmasq.terminate()
        self.dnsmasq.wait()
        os.unlink(self.conf.name)
        subprocess.run(f"ip link del {HOST_IF}", shell=True, stderr=subprocess.DEVNULL)
        subprocess.run(f"ip netns del {NS}", shell=True, stderr=subprocess.DEVNULL)


def lookups(stop, out):
    """RATE lookups/s, each from a new socket; counts answers and NXDOMAINs."""
    start = time.monotonic()
    sent = answered = nx = 0
    while not stop.is_set():
        due = int((time.monotonic() - start) * RATE)
        while sent < due:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            s.connect((SERVER_IP, 53))
            i = sent % (NAMES + NAMES // 9)  # one in ten is not a name dnsmasq has
            s.send(query(sent & 0xFFFF, name(i)))
            try:
                r = s.recv(512)
                answered += 1
                nx += (r[3] & 0x0F) == 3
            except socket.timeout:
                pass
            s.close()
            sent += 1
        time.sleep(0.001)
    out.update(sent=sent, answered=answered, nxdomain=nx)


def run(dns_on):
    d = tempfile.mkdtemp(prefix="rpdb")
    sock = d + "/s.sock"
    with open(d + "/c.toml", "w") as f:
        f.write(f'''log_level = "warn"
[system_probe_config]
sysprobe_socket = "{sock}"
debug_port = 0
disable_dns_inspection = {"false" if dns_on else "true"}
[network_config]
enabled = true
[discovery]
enabled = false
''')
    daemon = subprocess.Popen([BIN, "--config", d + "/c.toml"])
    try:
        assert wait(lambda: os.path.exists(sock) and get(sock, "/debug/stats")[0] == 200), "start"
        get(sock, "/network_tracer/register?client_id=p")
        resource.setrlimit(resource.RLIMIT_NOFILE, (HOLD + 1000, HOLD + 1000))
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))  # never read: what overflows its buffer is dropped
        held = []
        for _ in range(HOLD):
            h = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            h.connect(sink.getsockname())
            held.append(h)
        rss_start = rss_kib(daemon.pid)
        stop, load = threading.Event(), {}
        t = threading.Thread(target=lookups, args=(stop, load))
        c0, t0 = sched_ns(daemon.pid), time.monotonic()
        t.start()
        lat, size, dns_conns = [], [], 0
        next_poll = time.monotonic() + 1
        while time.monotonic() - t0 < SECONDS:
            time.sleep(max(0, next_poll - time.monotonic()))
            next_poll += 1
            for h in held:
                h.send(b"x")
            q = time.perf_counter()
            st, body = get(sock, "/network_tracer/connections?client_id=p", "application/protobuf")
            lat.append(time.perf_counter() - q)
            size.append(len(body))
            assert st == 200
        stop.set()
        t.join()
        c1, t1 = sched_ns(daemon.pid), time.monotonic()
        for h in held:
            h.close()
        sink.close()
        res = {"latency_ms": statistics.median(lat[1:]) * 1000,
               "bytes": statistics.median(size[1:]),
               "cpu_pct": (c1 - c0) / 1e9 / (t1 - t0) * 100,
               "rss_kib": rss_kib(daemon.pid), "rss_start_kib": rss_start, **load}
        s = stats(sock)
        if dns_on:
            dns = s["dns"]
            res.update(cache_bytes=dns["reverse_cache_bytes"],
                       cache_entries=dns["reverse_cache_entries"],
                       pending=dns["pending_queries"], queries=dns["queries"],
                       successes=dns["successful_responses"],
                       failures=dns["failed_responses"], timeouts=dns["timeouts"],
                       attached=dns["stats_attached"], socket_drops=dns["dropped"]["socket_drops"])
        return res
    finally:
        daemon.terminate()
        daemon.wait()


def main():
    runs = {False: [], True: []}
    for _ in range(ROUNDS):
        for on in (False, True):
            with Namespace():
                runs[on].append(run(on))
    med = {on: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for on, rs in runs.items()}
    off, on = med[False], med[True]
    print(f"{RATE} lookups/s for {SECONDS} s, {NAMES} names, {HOLD} other connections, "
          f"{ROUNDS} round(s); medians")
    for k in ("latency_ms", "bytes", "cpu_pct", "rss_start_kib", "rss_kib", "sent", "answered"):
        ratio = on[k] / off[k] if off[k] else float("nan")
        print(f"{k:12} off {off[k]:12.3f}  on {on[k]:12.3f}  on/off {ratio:.3f}")
    print(json.dumps({"off": runs[False], "on": runs[True]}))


main()
