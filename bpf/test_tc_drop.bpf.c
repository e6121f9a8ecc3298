// SPDX-License-Identifier: GPL-2.0
/* test_tc_drop.bpf.c — TEST ONLY (tests/bpf/network_tracer_test.cpp): a tc classifier that drops
 * the first `drop_count` TCP segments carrying data to port `dport`, so that the sender has to
 * retransmit them. The test kernel has no netem; this is its loss generator. The test attaches it
 * to the ingress of the receiver's veth in a namespace it made (at the sender's egress a drop is
 * a local send failure, which TCP repeats at once without a retransmission); never the daemon.
 *
 * Parses Ethernet + IPv4 (no options beyond IHL) or IPv6 (no extension headers) + TCP.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TDROP_ETH_P_IP 0x0800
#define TDROP_ETH_P_IPV6 0x86dd
#define TDROP_TC_ACT_OK 0
#define TDROP_TC_ACT_SHOT 2

const volatile __u16 dport = 0; /* host byte order */
__u32 drop_count = 0;           /* set by the test */
__u32 dropped = 0;              /* segments dropped so far */
__u32 seen = 0;                 /* data segments to dport seen */

SEC("tc")
int tdrop_ingress(struct __sk_buff *skb)
{
	__u32 off = sizeof(struct ethhdr), l4, total;
	struct tcphdr tcp;
	__u8 proto;

	if (skb->protocol == bpf_htons(TDROP_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return TDROP_TC_ACT_OK;
		proto = ip.protocol;
		l4 = off + ip.ihl * 4;
		total = off + bpf_ntohs(ip.tot_len);
	} else if (skb->protocol == bpf_htons(TDROP_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return TDROP_TC_ACT_OK;
		proto = ip6.nexthdr;
		l4 = off + sizeof(ip6);
		total = l4 + bpf_ntohs(ip6.payload_len);
	} else {
		return TDROP_TC_ACT_OK;
	}
	if (proto != IPPROTO_TCP || bpf_skb_load_bytes(skb, l4, &tcp, sizeof(tcp)))
		return TDROP_TC_ACT_OK;
	if (bpf_ntohs(tcp.dest) != dport || total <= l4 + tcp.doff * 4)
		return TDROP_TC_ACT_OK; /* another port, or no payload (SYN, ACK, FIN) */
	__sync_fetch_and_add(&seen, 1);
	if (dropped >= drop_count)
		return TDROP_TC_ACT_OK;
	__sync_fetch_and_add(&dropped, 1);
	return TDROP_TC_ACT_SHOT;
}
