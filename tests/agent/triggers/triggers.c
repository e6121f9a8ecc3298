// triggers.c — real kernel events for the Agent conformance suite (tests/agent/). It lives in a
// folder of its own because Go refuses C files in a package that does not use cgo.
//
// The Go suite cannot set a thread's seccomp filter, a precise OOM victim or a socket's buffers
// from its multi-threaded runtime as reliably as a small single-threaded C program, so it runs this
// helper (its path comes from RINGPROBE_AGENT_TRIGGERS):
//
//   rp_agent_triggers oom <cgroup>          a memcg OOM kill: a child in a new 64 MiB v1 memory
//                                           cgroup allocates and touches 300 MiB
//   rp_agent_triggers tcpq <cgroup>         a child in a new memory cgroup fills a loopback TCP
//                                           connection's send queue, then drains it 2 KiB a read
//   rp_agent_triggers seccomp <cgroup> <n>  a child in a new memory cgroup makes n getppid() calls
//                                           that a seccomp filter denies with ERRNO(EPERM)
//   rp_agent_triggers hold <fds> <writes>   closes inherited descriptors beyond stdio, opens <fds>,
//                                           makes <writes> writes, prints "ready", then blocks
//                                           reading stdin until EOF
//
// The event subcommands create /sys/fs/cgroup/memory/<cgroup> (cgroup v1 memory controller, see
// the project's KERNEL.md), run the child in it, reap it, remove the cgroup, and print one line of
// `key=value` facts that the suite asserts the daemon's payloads against. Exit status 0 when the
// kernel event happened as planned; otherwise a message on stderr and exit 1. Needs root (except
// hold). Everything the helper creates is removed before it exits, also on failure.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#define OOM_COMM "rp-agent-oom"
#define TCPQ_COMM "rp-agent-tcpq"
#define SECCOMP_COMM "rp-agent-sccmp"
#define OOM_SCORE_ADJ 500
#define OOM_LIMIT_BYTES (64ull << 20)
#define OOM_ALLOC_BYTES (300ull << 20)
#define DENIED_NR SYS_getppid

static char cgroup_dir[512];

static void die(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void remove_cgroup(void);

static void die(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rp_agent_triggers: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    remove_cgroup();
    exit(1);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Writes `value` to `dir/file`; returns 0 or -errno.
static int write_file(const char* dir, const char* file, const char* value) {
    char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = strlen(value);
    ssize_t w = write(fd, value, len);
    int err = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
    close(fd);
    return err;
}

// A fresh v1 memory cgroup named `name` directly under the hierarchy's root.
static void make_cgroup(const char* name) {
    if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0')
        die("bad cgroup name '%s'", name);
    if (access(MEMCG_ROOT "/memory.limit_in_bytes", F_OK) != 0)
        die("no cgroup v1 memory controller at " MEMCG_ROOT);
    snprintf(cgroup_dir, sizeof cgroup_dir, MEMCG_ROOT "/%s", name);
    if (mkdir(cgroup_dir, 0755) != 0) {
        int e = errno;
        cgroup_dir[0] = '\0';  // not ours: never remove it
        die("mkdir " MEMCG_ROOT "/%s: %s", name, strerror(e));
    }
}

// rmdir succeeds once the last task has left the cgroup; a reaped child may still be leaving it
// for a moment, so retry on EBUSY until a deadline.
static void remove_cgroup(void) {
    if (cgroup_dir[0] == '\0') return;
    int64_t deadline = now_ms() + 5000;
    while (rmdir(cgroup_dir) != 0) {
        if (errno != EBUSY || now_ms() > deadline) {
            fprintf(stderr, "rp_agent_triggers: rmdir %s: %s\n", cgroup_dir, strerror(errno));
            break;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    cgroup_dir[0] = '\0';
}

struct child {
    pid_t pid;
    int go_fd;  // the child starts its work when one byte arrives here
};

// Forks a child that waits for the go byte, then runs fn() and _exits with its result.
static struct child spawn(int (*fn)(void*), void* arg) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) die("pipe2: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(2);
        _exit(fn(arg));
    }
    close(go[0]);
    struct child ch = {pid, go[1]};
    return ch;
}

// Moves the child into the cgroup, lets it go, reaps it; returns its waitpid status.
static int run_in_cgroup(struct child ch) {
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", (int)ch.pid);
    int err = write_file(cgroup_dir, "cgroup.procs", pid_text);
    if (err != 0) {
        kill(ch.pid, SIGKILL);
        waitpid(ch.pid, NULL, 0);
        die("move pid %d into %s: %s", (int)ch.pid, cgroup_dir, strerror(-err));
    }
    if (write(ch.go_fd, "g", 1) != 1) {
        kill(ch.pid, SIGKILL);
        waitpid(ch.pid, NULL, 0);
        die("start child: %s", strerror(errno));
    }
    close(ch.go_fd);
    int status = 0;
    while (waitpid(ch.pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    return status;
}

static void describe_status(int status, char* out, size_t len) {
    if (WIFEXITED(status))
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, len, "status %#x", status);
}

// ---- oom ----------------------------------------------------------------------------------------

static int oom_child(void* arg) {
    (void)arg;
    prctl(PR_SET_NAME, OOM_COMM);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return 3;
    char adj[16];
    int n = snprintf(adj, sizeof adj, "%d", OOM_SCORE_ADJ);
    if (write(fd, adj, (size_t)n) != n) return 4;
    close(fd);
    char* p =
        mmap(NULL, OOM_ALLOC_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 5;
    for (uint64_t off = 0; off < OOM_ALLOC_BYTES; off += 4096) p[off] = 1;
    return 0;  // not killed: the parent reports the failure
}

static int cmd_oom(const char* cgroup) {
    make_cgroup(cgroup);
    char limit[32];
    snprintf(limit, sizeof limit, "%llu", OOM_LIMIT_BYTES);
    int err = write_file(cgroup_dir, "memory.limit_in_bytes", limit);
    if (err != 0) die("set memory.limit_in_bytes of %s: %s", cgroup_dir, strerror(-err));
    // No swap for this cgroup: the child must be killed, not swapped out, and the kernel's
    // oc->totalpages is then exactly the limit in pages.
    err = write_file(cgroup_dir, "memory.swappiness", "0");
    if (err != 0) die("set memory.swappiness of %s: %s", cgroup_dir, strerror(-err));

    struct child ch = spawn(oom_child, NULL);
    int status = run_in_cgroup(ch);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        char what[64];
        describe_status(status, what, sizeof what);
        die("the OOM child (pid %d) was not OOM-killed: it %s", (int)ch.pid, what);
    }
    remove_cgroup();
    printf("pid=%d signal=%d cgroup=%s comm=%s score_adj=%d limit_pages=%llu\n", (int)ch.pid,
           WTERMSIG(status), cgroup, OOM_COMM, OOM_SCORE_ADJ, OOM_LIMIT_BYTES / 4096);
    return 0;
}

// ---- tcpq ---------------------------------------------------------------------------------------

struct tcpq_result {
    int64_t sent;
};

// The child's exit code names the step that failed (cmd_tcpq prints which is which).
static int tcpq_child(void* arg) {
    int result_fd = *(int*)arg;
    prctl(PR_SET_NAME, TCPQ_COMM);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr*)&a, &alen) != 0)
        return 10;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr*)&a, sizeof a) != 0) return 11;
    int r = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (r < 0) return 12;
    if (fcntl(s, F_SETFL, O_NONBLOCK) != 0) return 13;

    // Fill: write until the kernel refuses more (EAGAIN: the send queue's memory reached
    // sk_sndbuf). The receiver has not read anything, so its queue is (nearly) full as well.
    static char buf[65536];
    int64_t sent = 0;
    for (;;) {
        ssize_t w = send(s, buf, sizeof buf, MSG_NOSIGNAL);
        if (w > 0) {
            sent += w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        return 14;
    }
    int queued = 0;
    if (ioctl(s, SIOCOUTQ, &queued) != 0 || queued <= 0) return 15;

    // Drain slowly, so that the reads see the full receive queue.
    static char small[2048];
    int64_t got = 0;
    while (got < sent) {
        ssize_t n = recv(r, small, sizeof small, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 16;
        got += n;
    }
    struct tcpq_result res = {sent};
    if (write(result_fd, &res, sizeof res) != (ssize_t)sizeof res) return 17;
    close(r);
    close(s);
    close(l);
    return 0;
}

static int cmd_tcpq(const char* cgroup) {
    make_cgroup(cgroup);
    int res_pipe[2];
    if (pipe2(res_pipe, O_CLOEXEC) != 0) die("pipe2: %s", strerror(errno));
    struct child ch = spawn(tcpq_child, &res_pipe[1]);
    close(res_pipe[1]);
    int status = run_in_cgroup(ch);
    struct tcpq_result res = {0};
    ssize_t n = read(res_pipe[0], &res, sizeof res);
    close(res_pipe[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != (ssize_t)sizeof res) {
        char what[64];
        describe_status(status, what, sizeof what);
        die("the TCP child (pid %d) failed: it %s (10-13: socket set-up, 14-15: fill, "
            "16: drain, 17: report)",
            (int)ch.pid, what);
    }
    remove_cgroup();
    printf("pid=%d sent=%lld cgroup=%s comm=%s\n", (int)ch.pid, (long long)res.sent, cgroup,
           TCPQ_COMM);
    return 0;
}

// ---- seccomp ------------------------------------------------------------------------------------

static int seccomp_calls;

// The filter: ERRNO(EPERM) for getppid (x86-64 ABI), allow everything else.
static int seccomp_child(void* arg) {
    (void)arg;
    prctl(PR_SET_NAME, SECCOMP_COMM);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENIED_NR, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 10;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return 11;
    for (int i = 0; i < seccomp_calls; ++i) {
        errno = 0;
        long r = syscall(DENIED_NR);
        if (r != -1 || errno != EPERM) return 12;  // the kernel did not deny it
    }
    return 0;
}

static int cmd_seccomp(const char* cgroup, const char* calls) {
    seccomp_calls = atoi(calls);
    if (seccomp_calls <= 0) die("bad call count '%s'", calls);
    make_cgroup(cgroup);
    struct child ch = spawn(seccomp_child, NULL);
    int status = run_in_cgroup(ch);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char what[64];
        describe_status(status, what, sizeof what);
        die("the seccomp child (pid %d) failed: it %s (10: no_new_privs, 11: install filter, "
            "12: getppid was not denied with EPERM)",
            (int)ch.pid, what);
    }
    remove_cgroup();
    printf("pid=%d syscall_nr=%d action=%u errno=%d count=%d cgroup=%s comm=%s\n", (int)ch.pid,
           (int)DENIED_NR, (unsigned)SECCOMP_RET_ERRNO, EPERM, seccomp_calls, cgroup, SECCOMP_COMM);
    return 0;
}

// ---- hold ---------------------------------------------------------------------------------------

static int cmd_hold(const char* fds_text, const char* writes_text) {
    int fds = atoi(fds_text), writes = atoi(writes_text);
    if (fds < 1 || writes < 0) die("bad arguments '%s' '%s'", fds_text, writes_text);
    // Whatever the parent let us inherit goes: the suite knows the fd table exactly.
    if (close_range(3, ~0u, 0) != 0) die("close_range: %s", strerror(errno));
    int out = open("/dev/null", O_WRONLY);
    if (out < 0) die("open /dev/null: %s", strerror(errno));
    for (int i = 1; i < fds; ++i)
        if (open("/dev/null", O_RDONLY) < 0) die("open /dev/null: %s", strerror(errno));
    for (int i = 0; i < writes; ++i)
        if (write(out, "x", 1) != 1) die("write /dev/null: %s", strerror(errno));
    static const char ready[] = "ready\n";
    if (write(STDOUT_FILENO, ready, sizeof ready - 1) != (ssize_t)(sizeof ready - 1))
        die("write stdout: %s", strerror(errno));
    // Block here (the counters stay still) until the suite closes our stdin.
    char c;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0) return 0;
        if (n < 0 && errno != EINTR) die("read stdin: %s", strerror(errno));
    }
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "oom") == 0) return cmd_oom(argv[2]);
    if (argc == 3 && strcmp(argv[1], "tcpq") == 0) return cmd_tcpq(argv[2]);
    if (argc == 4 && strcmp(argv[1], "seccomp") == 0) return cmd_seccomp(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "hold") == 0) return cmd_hold(argv[2], argv[3]);
    fprintf(stderr,
            "usage: rp_agent_triggers oom <cgroup> | tcpq <cgroup> | seccomp <cgroup> <calls> | "
            "hold <fds> <writes>\n");
    return 2;
}
