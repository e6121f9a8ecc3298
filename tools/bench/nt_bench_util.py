"""nt_bench_util.py — what tools/bench's network_tracer scripts (conntrack_bench.py, dns_bench.py)
share: shell commands, HTTP over the daemon's unix socket, and the daemon's CPU and memory."""
import http.client, json, socket, subprocess, time


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(sock, path, accept=None):
    """One request on a new connection: (status, body)."""
    c = UnixConn(sock)
    c.request("GET", path, headers={"Accept": accept} if accept else {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def stats(sock):
    return json.loads(get(sock, "/debug/stats")[1])["network_tracer"]


def sched_ns(pid):
    """The daemon's CPU time (single-threaded), nanoseconds."""
    return int(open(f"/proc/{pid}/schedstat").read().split()[0])


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait(pred, secs=30):
    """pred() until it holds (an OSError, e.g. the socket not there yet, counts as not yet)."""
    end = time.time() + secs
    while time.time() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
