// SPDX-License-Identifier: GPL-2.0
/*
 * Lower bounds for a tc-ingress fast path on veth (bench/fast-path-floor.ts), never loaded by sfip itself. Packets
 * are addressed to the fixed address already: nothing here translates.
 *
 * floor_peer: every IPv4 packet straight to the peer of the router's internal veth (OUT_IFINDEX, given at build
 *             time): the tc hook and bpf_redirect_peer alone, the least a tc fast path can cost.
 * floor_fib:  (built with -DFLOOR_FIB) what a forwarder without NAT needs on top: bpf_fib_lookup, the TTL and its checksum, the next hop's
 *             MAC addresses, then bpf_redirect_peer to the device the lookup names.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef OUT_IFINDEX
#error "build with -DOUT_IFINDEX=<ifindex of the router's internal device>"
#endif
#define AF_INET 2

static __always_inline struct iphdr *ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	return ip;
}

#ifndef FLOOR_FIB
SEC("tc")
int floor_peer(struct __sk_buff *skb)
{
	if (!ipv4(skb))
		return TC_ACT_OK;
	return bpf_redirect_peer(OUT_IFINDEX, 0);
}
#else
SEC("tc")
int floor_fib(struct __sk_buff *skb)
{
	struct iphdr *ip = ipv4(skb);
	if (!ip || ip->ttl <= 1)
		return TC_ACT_OK;
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.ifindex = skb->ingress_ifindex;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	/* Packet pointers are stale after a helper call: find the headers again. */
	ip = ipv4(skb);
	if (!ip)
		return TC_ACT_OK;
	struct ethhdr *eth = (void *)(long)skb->data;
	__u32 check = (__u32)ip->check + bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect_peer(fib.ifindex, 0);
}
#endif

char LICENSE[] SEC("license") = "GPL";
