// SPDX-License-Identifier: GPL-2.0
/* discovery.bpf.c — discovery's open-file walk as one BPF iterator over every task's files
 * (iter/task_file): one read of the iterator gives, per process, its mount and network
 * namespaces, its listening TCP and unconnected UDP sockets (port and inode, read from the socket
 * itself), and the files discovery classifies by path (log files with their open flags, the
 * tracer's and the injector's memfds, NVIDIA devices). Everything else is not written out.
 *
 * Needs: kernel BTF, BPF iterators (Linux >= 5.8), bpf_sock_from_file (5.11), bpf_d_path in
 * iterators (5.10).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/discovery.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_LISTEN 10
#define TCP_CLOSE 7

__u32 last_tgid = 0;      /* .bss: the process of the previous record (reset by user space) */
__u64 records = 0;        /* .bss: records written, for the stats */
__u64 paths = 0;          /* .bss: bpf_d_path calls */

struct path_buf {
	struct disc_record r;
	char path[DISC_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} scratch SEC(".maps");

static __always_inline int has_prefix(const char *s, __u64 len, const char *p, __u32 plen)
{
	if (len < plen)
		return 0;
	for (__u32 i = 0; i < plen && i < DISC_PATH_MAX; i++)
		if (s[i] != p[i])
			return 0;
	return 1;
}

/* Whole components: "/var/log" matches "/var/log" and "/var/log/x", not "/var/logs". */
static __always_inline int has_dir_prefix(const char *s, __u64 len, const char *p, __u32 plen)
{
	if (!has_prefix(s, len, p, plen))
		return 0;
	return len == plen || (plen < DISC_PATH_MAX && s[plen & (DISC_PATH_MAX - 1)] == '/');
}

static __always_inline void emit(struct seq_file *seq, struct disc_record *r, __u32 size)
{
	bpf_seq_write(seq, r, size);
	records++;
}

SEC("iter/task_file")
int discovery_task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct disc_record r = {};
	__u32 zero = 0;

	if (!task || !file)
		return 0;
	r.tgid = task->tgid;
	if (r.tgid != last_tgid) {
		last_tgid = r.tgid;
		r.kind = DISC_TASK;
		r.a = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
		r.b = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
		emit(seq, &r, sizeof(r));
		r.a = r.b = 0;
	}
	r.fd = ctx->fd;
	struct inode *inode = file->f_inode;
	if (!inode)
		return 0;
	__u16 mode = inode->i_mode & S_IFMT;

	if (mode == S_IFSOCK) {
		struct socket *sock = bpf_sock_from_file(file);
		if (!sock)
			return 0;
		struct sock *sk = BPF_CORE_READ(sock, sk);
		if (!sk)
			return 0;
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
		__u16 proto = BPF_CORE_READ(sk, sk_protocol);
		__u16 type = BPF_CORE_READ(sk, sk_type);
		if (family != AF_INET && family != AF_INET6)
			return 0;
		if (proto == IPPROTO_TCP && type == SOCK_STREAM && state == TCP_LISTEN)
			r.kind = DISC_TCP_LISTEN;
		else if (proto == IPPROTO_UDP && type == SOCK_DGRAM && state == TCP_CLOSE)
			r.kind = DISC_UDP_UNCONN;
		else
			return 0;
		r.port = BPF_CORE_READ(sk, __sk_common.skc_num);
		r.a = inode->i_ino;
		emit(seq, &r, sizeof(r));
		return 0;
	}
	if (mode != S_IFREG && mode != S_IFCHR)
		return 0;
	if (mode == S_IFCHR) {
		/* Only NVIDIA's devices matter: their dentry is named nvidia*. */
		char name[8] = {};
		const unsigned char *dn = BPF_CORE_READ(file, f_path.dentry, d_name.name);
		bpf_probe_read_kernel_str(name, sizeof(name), dn);
		if (name[0] != 'n' || name[1] != 'v' || name[2] != 'i' || name[3] != 'd' ||
		    name[4] != 'i' || name[5] != 'a')
			return 0;
	}

	struct path_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return 0;
	paths++;
	long n = bpf_d_path((struct path *)&file->f_path, b->path, sizeof(b->path));
	if (n < 0) {
		/* Too long for the buffer: user space reads the link of a regular file. */
		if (mode == S_IFREG) {
			r.kind = DISC_LONG_PATH;
			r.flags = file->f_flags;
			emit(seq, &r, sizeof(r));
		}
		return 0;
	}
	if (n <= 1 || n > DISC_PATH_MAX)
		return 0;
	__u64 len = n - 1; /* n counts the NUL */
	const char *p = b->path;
	/* The path decides, whatever the file's type (as /proc's readlink is classified). */
	if (has_prefix(p, len, "/dev/nvidia", 11)) {
		r.kind = DISC_GPU_DEVICE;
		emit(seq, &r, sizeof(r));
		return 0;
	}
	if (mode == S_IFCHR)
		return 0;
	if (has_prefix(p, len, "/memfd:", 7)) {
		if (has_prefix(p, len, "/memfd:datadog-tracer-info-", 27))
			r.kind = DISC_TRACER_MEMFD;
		else if (has_prefix(p, len, "/memfd:dd_language_detected", 27) &&
			 (len == 27 || p[27] == ' '))
			r.kind = DISC_LANG_MEMFD;
		else
			return 0;
		emit(seq, &r, sizeof(r));
		return 0;
	}
	/* Log files, as system-probe decides: under /var/log (not /var/log/pods), or named *.log
	 * (not under /var/lib/docker/containers). The name is the last component. */
	int is_log = 0;
	if (has_dir_prefix(p, len, "/var/log", 8)) {
		is_log = !has_dir_prefix(p, len, "/var/log/pods", 13);
	} else if (len >= 4 && p[(len - 4) & (DISC_PATH_MAX - 1)] == '.' &&
		   p[(len - 3) & (DISC_PATH_MAX - 1)] == 'l' && p[(len - 2) & (DISC_PATH_MAX - 1)] == 'o' &&
		   p[(len - 1) & (DISC_PATH_MAX - 1)] == 'g') {
		/* a name that is exactly ".log" counts too; "x/.log" ends in "/.log" */
		is_log = !has_dir_prefix(p, len, "/var/lib/docker/containers", 26);
	}
	if (!is_log)
		return 0;
	b->r = r;
	b->r.kind = DISC_LOG;
	b->r.flags = file->f_flags;
	b->r.path_len = len;
	__u64 size = sizeof(b->r) + ((len + 7) & ~7ull);
	/* the verifier needs the bound on the register passed: keep the compiler from moving it */
	barrier_var(size);
	if (size > sizeof(*b))
		return 0;
	bpf_seq_write(seq, &b->r, size);
	records++;
	return 0;
}
