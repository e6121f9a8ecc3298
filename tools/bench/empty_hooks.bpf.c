/* empty_hooks.bpf.c — benchmark-only (tools/bench, never in the daemon): programs that do nothing,
 * attached to the tracepoints network_tracer counts UDP with (tp_btf/sock_send_length and
 * sock_recv_length). `rp_bench_server empty-hooks` loads them, so that the host-overhead benchmark
 * can measure the floor of any program on those hooks (the kernel's cost of dispatching it) in
 * the same run as the module itself.
 *
 * Needs: kernel BTF, tp_btf, the two tracepoints (Linux 6.3).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sock_send_length")
int BPF_PROG(empty_send_length, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(empty_recv_length, struct sock *sk, int ret, int flags)
{
	return 0;
}
