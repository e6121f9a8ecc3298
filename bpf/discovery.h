/* discovery.h — the records bpf/discovery.bpf.c writes when its task_file iterator is read: what
 * discovery needs from every process's open files, for all processes at once, instead of a
 * readlink of each /proc/<pid>/fd entry (docs/modules/discovery.md, "BPF iterator").
 *
 * The iterator visits tasks in increasing pid order (threads sharing their leader's file table
 * are skipped by the kernel); each process's records start with a DISC_TASK record and follow it.
 * A record with path_len > 0 is followed by that many bytes of path (no NUL), padded to 8. */
#ifndef RINGPROBE_BPF_DISCOVERY_H
#define RINGPROBE_BPF_DISCOVERY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum disc_kind {
	DISC_TASK = 1,         /* a = mount namespace inode, b = network namespace inode */
	DISC_TCP_LISTEN = 2,   /* port; a = socket inode */
	DISC_UDP_UNCONN = 3,   /* port; a = socket inode (a UDP socket bound, not connected) */
	DISC_LOG = 4,          /* a *.log or /var/log/ file: flags = f_flags; path follows */
	DISC_TRACER_MEMFD = 5, /* /memfd:datadog-tracer-info-* */
	DISC_LANG_MEMFD = 6,   /* /memfd:dd_language_detected */
	DISC_GPU_DEVICE = 7,   /* /dev/nvidia* */
	DISC_LONG_PATH = 8,    /* a regular file whose path did not fit: user space reads the link */
};

#define DISC_PATH_MAX 256 /* longer paths: DISC_LONG_PATH */

struct disc_record {
	__u32 tgid;
	__u32 fd;
	__u8 kind;
	__u8 pad0;
	__u16 port;      /* host byte order (sock_common.skc_num) */
	__u32 flags;     /* struct file.f_flags */
	__u32 path_len;  /* bytes of path after this record */
	__u32 pad1;
	__u64 a;
	__u64 b;
};

#endif /* RINGPROBE_BPF_DISCOVERY_H */
