#!/usr/bin/env python3
"""conntrack_bench.py — what network_tracer's NAT translations (conntrack) cost (issue 14).

Root. Two network namespaces (A, B) joined by a veth pair; nft rules in A DNAT UDP to
<net>.100 to B. The daemon (BIN) runs twice, NAT translation off then on
(system_probe_config.enable_conntrack; conntrack_rate_limit -1 so that nothing is sampled),
then a third time on with the default rate limit (500 events/s: sampled after the first 3 s):

  hold   FLOWS connected UDP sockets in A, one datagram each through the DNAT: FLOWS conntrack
         entries (2 × FLOWS cached tuples) and FLOWS open connections. /connections latency
         (protobuf, a new client each time, so every connection is reported and looked up;
         median of REPS; and the daemon's CPU time per request, poll_cpu_ms, which leaves out
         the client's reading), the cache's memory (memory_bytes) and the daemon's RSS.
  rate   RATE new NAT'ed UDP flows per second in A for SECONDS (socket, send, close): the daemon's
         CPU per second (utime + stime, all threads, in clock ticks: cpu_pct; and the main
         thread's run time from schedstat, in ns: cpu_pct_main) while it reads the NEW and
         DESTROY events.

Reported as off, on and the ratio on/off, measured in the same run.
RP_PERF=file: perf record -g of the polls; RP_PERF_EVENTS=file: of the rate phase (the CPU
figure then includes perf's own cost in the daemon: run without it for the table).
usage: conntrack_bench.py BIN [FLOWS=10000] [RATE=10000] [SECONDS=5] [REPS=7]
"""
import json, os, statistics, subprocess, sys, tempfile, time

from nt_bench_util import get, rss_kib, sched_ns, sh, stats, wait

BIN = sys.argv[1]
FLOWS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
RATE = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
SECONDS = int(sys.argv[4]) if len(sys.argv) > 4 else 5
REPS = int(sys.argv[5]) if len(sys.argv) > 5 else 7
TICK = os.sysconf("SC_CLK_TCK")
A, B = f"rpcbA{os.getpid()}", f"rpcbB{os.getpid()}"
NET = "10.235.%d" % (os.getpid() % 200 + 20)
VIP = NET + ".100"

HOLD = r'''
import resource, socket, sys
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((sys.argv[2], 53))
    s.send(b"x")
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
'''

RATEGEN = r'''
import socket, sys, time
rate, secs, vip = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start = time.monotonic()
sent = 0
while True:
    now = time.monotonic() - start
    if now >= secs:
        break
    due = int(now * rate)
    while sent < due:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (vip, 1024 + sent % 60000))  # distinct tuples (ports repeat)
        s.close()
        sent += 1
    time.sleep(0.001)
print(sent, flush=True)
'''


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def run(enabled, limit=-1):
    d = tempfile.mkdtemp(prefix="rpcb")
    sock = d + "/s.sock"
    with open(d + "/c.toml", "w") as f:
        f.write(f'''log_level = "warn"
[system_probe_config]
sysprobe_socket = "{sock}"
debug_port = 0
enable_conntrack = {"true" if enabled else "false"}
conntrack_rate_limit = {limit}
[network_config]
enabled = true
[discovery]
enabled = false
[ringprobe.network_tracer]
max_clients = 1024
''')
    daemon = subprocess.Popen([BIN, "--config", d + "/c.toml"])
    try:
        assert wait(lambda: os.path.exists(sock) and get(sock, "/debug/stats")[0] == 200), "start"
        res = {}
        hold = subprocess.Popen(["ip", "netns", "exec", A, "python3", "-c", HOLD, str(FLOWS), VIP],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "ready"
        if enabled:
            assert wait(lambda: stats(sock)["conntrack"]["state_size"] >= 2 * FLOWS), "entries"
        else:
            time.sleep(1)
        perf = None
        if enabled and limit == -1 and os.environ.get("RP_PERF"):  # profile the polls
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(daemon.pid), "-o",
                                     os.environ["RP_PERF"]], stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        lat = []
        run0 = sched_ns(daemon.pid)
        for i in range(REPS):
            t = time.perf_counter()
            st, body = get(sock, f"/network_tracer/connections?client_id=b{i}",
                           "application/protobuf")
            lat.append(time.perf_counter() - t)
            assert st == 200
        run1 = sched_ns(daemon.pid)
        if perf:
            perf.send_signal(2)
            perf.wait()
        s = stats(sock)
        res["poll_cpu_ms"] = (run1 - run0) / 1e6 / REPS
        res["latency_ms"] = statistics.median(lat) * 1000
        res["bytes"] = len(body)
        res["cache_bytes"] = s["conntrack"]["memory_bytes"] if enabled else 0
        res["tuples"] = s["conntrack"]["state_size"] if enabled else 0
        res["rss_kib"] = rss_kib(daemon.pid)
        hold.stdin.close()
        hold.wait()
        time.sleep(0.5)
        perf = None
        if enabled and limit == -1 and os.environ.get("RP_PERF_EVENTS"):  # profile the events
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(daemon.pid), "-o",
                                     os.environ["RP_PERF_EVENTS"]], stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0, t0, n0 = cpu_ticks(daemon.pid), time.time(), sched_ns(daemon.pid)
        out = subprocess.run(["ip", "netns", "exec", A, "python3", "-c", RATEGEN, str(RATE),
                              str(SECONDS), VIP], capture_output=True, text=True, check=True)
        time.sleep(0.3)
        c1, t1, n1 = cpu_ticks(daemon.pid), time.time(), sched_ns(daemon.pid)
        if perf:
            perf.send_signal(2)
            perf.wait()
        res["flows_sent"] = int(out.stdout.strip())
        res["cpu_pct"] = (c1 - c0) / TICK / (t1 - t0) * 100
        res["cpu_pct_main"] = (n1 - n0) / 1e9 / (t1 - t0) * 100  # ns, the main thread
        if enabled:
            ct = stats(sock)["conntrack"]
            res["events"] = ct["events"]
            res["enobufs"] = ct["enobufs"]
            res["ct"] = ct
        return res
    finally:
        daemon.terminate()
        daemon.wait()


def setup():
    sh(f"ip netns add {A}; ip netns add {B}")
    if True:
        sh(f"ip link add rpcbva netns {A} type veth peer name rpcbvb netns {B}")
        sh(f"ip -n {A} addr add {NET}.1/24 dev rpcbva; ip -n {B} addr add {NET}.2/24 dev rpcbvb")
        sh(f"ip -n {A} link set rpcbva up; ip -n {B} link set rpcbvb up")
        sh(f"ip netns exec {A} nft add table ip rpcb")
        sh(f"ip netns exec {A} nft add chain ip rpcb out '{{ type nat hook output priority -100; }}'")
        sh(f"ip netns exec {A} nft add rule ip rpcb out ip daddr {VIP} udp dport 53 dnat to {NET}.2:5353")
        sh(f"ip netns exec {A} nft add rule ip rpcb out ip daddr {VIP} udp dport != 53 dnat to {NET}.2")


def main():
    res = []
    # fresh namespaces (an empty conntrack table) for each run
    for enabled, limit in ((False, -1), (True, -1), (True, 500)):
        setup()
        try:
            res.append(run(enabled, limit))
        finally:
            sh(f"ip netns del {A}; ip netns del {B}")
            time.sleep(0.5)
    off, on, limited = res
    print(f"flows held {FLOWS}, new flows {RATE}/s for {SECONDS} s")
    for k in ("latency_ms", "poll_cpu_ms", "bytes", "rss_kib", "cpu_pct", "cpu_pct_main",
              "flows_sent"):
        ratio = on[k] / off[k] if off[k] else float("nan")
        print(f"{k:12} off {off[k]:10.2f}  on {on[k]:10.2f}  on/off {ratio:.3f}")
    print(f"cache: {on['tuples']} tuples, {on['cache_bytes']} bytes "
          f"({on['cache_bytes'] / max(on['tuples'], 1):.0f} per tuple); events {on['events']}, "
          f"enobufs {on['enobufs']}")
    print(json.dumps(on["ct"]))
    ct = limited["ct"]
    print(f"default conntrack_rate_limit 500: cpu_pct {limited['cpu_pct']:.2f} "
          f"(on/off {limited['cpu_pct'] / off['cpu_pct']:.3f}), events read {ct['events']}, "
          f"throttles {ct['throttles']}, sampling {ct['sampling_pct']:.1f} %")


main()
