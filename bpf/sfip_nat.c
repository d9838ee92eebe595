// SPDX-License-Identifier: GPL-2.0
/*
 * sfip stateless floating-IP NAT for tc (cls_bpf, direct action).
 *
 * Four programs share one router's pinned maps (the agent creates the maps, then loads this object with
 * bpftool, replacing each map by its pinned instance, so every program of a router sees the same maps):
 *
 *   gw_ingress   tc ingress, gateway device   destination floating -> fixed, mark "untrack"
 *   gw_egress    tc egress,  gateway device   source fixed -> floating
 *   int_ingress  tc ingress, router's internal devices: hairpin (a VM reaching a floating IP of the same
 *                router never crosses the gateway device): destination floating -> fixed, mark "hairpin";
 *                and the "untrack" mark for traffic of fixed IPs that have a floating IP
 *   int_egress   tc egress,  internal devices: packets marked "hairpin" get their source fixed -> floating,
 *                so both ends of a hairpin see floating addresses
 *
 * Why a mark and not conntrack's own bypass: tc ingress runs before netfilter, so the program cannot untrack
 * a packet itself (bpf_ct_* kfuncs create or look up entries, they do not set NOTRACK). It sets a mark bit and
 * the router's nft table, at priority raw (-300, ahead of conntrack at -200), says `notrack` for it.
 *
 * Checksums: the outer IP header by direct packet access (set_ip_addr; bpf_l3_csum_replace for a header outside
 * the linear part, and for quoted headers); TCP and UDP with bpf_l4_csum_replace and
 * BPF_F_PSEUDO_HDR (the address is part of the pseudo-header; for CHECKSUM_PARTIAL packets the helper patches
 * the pseudo-header sum the device will complete). BPF_F_MARK_MANGLED_0 keeps a zero UDP checksum zero.
 * Non-first fragments carry no L4 header: only the IP header is patched.
 *
 * ICMP errors quote the header of the packet they are about. Inbound, that packet was sent by the VM from its
 * floating address, so the quoted source is floating and must become fixed; outbound the quoted destination
 * is fixed and must become floating. The quoted IP checksum and the quoted TCP/UDP checksum (when the quote
 * is long enough to hold it) are patched, then the outer ICMP checksum, which covers all of them.
 *
 * Port forwarding (docs/port-forwarding.md): pf_in maps (floating address, protocol, external port) to (internal
 * address, internal port) for the destination of inbound packets; pf_out maps (internal address, protocol,
 * internal port) to (floating address, external port) for the source of outbound ones. One lookup rewrites both
 * fields; the agent expands ranges into one entry per port, so a lookup is one exact hash probe whatever the
 * number of forwardings. Forwardings are looked up before the 1:1 maps: a VM with a 1:1 floating IP and a
 * forwarded port leaves from the forwarding's socket for that port only. Non-first fragments carry no port: the
 * first fragment's verdict is remembered in pf_frags (keyed on the fragment's addresses, IP id and protocol), so
 * the later ones get the same address (fragments that overtake their first one miss and are not translated).
 * pf_frags is the only state the programs keep; it is a small LRU, written by the programs only.
 *
 * Fast path (docs/ebpf.md, issue 17): gw_ingress and int_ingress forward a floating-IP packet themselves when
 * nothing about it needs the stack: translate, decrement the TTL, bpf_fib_lookup the next hop in the router's
 * namespace, bpf_check_mtu, rewrite the Ethernet header and bpf_redirect_peer to the peer of a veth egress device
 * in another namespace (peer_devs), bpf_redirect to the egress device's tc egress hook otherwise.
 * QoS limits are applied there too. The packet skips routing, netfilter (so it needs no NOTRACK) and the neighbour
 * layer. Everything else takes the
 * path above, unchanged: TTL <= 1 (time-exceeded), over the egress MTU (frag-needed or fragmentation), fragments,
 * IP options, ICMP errors (their quotes), no route or no resolved neighbour, anything addressed to the router,
 * hairpin, port-forwarded sockets, and outbound packets that would not leave through the gateway device. Built
 * without it (-DSFIP_NO_FAST_PATH) for kernels that lack bpf_fib_lookup or bpf_check_mtu.
 *
 * QoS (docs/qos.md): `qos` maps a floating address to four token buckets (inbound and outbound, bytes and
 * packets), as the agent writes them; a floating IP without limits has no entry. Inbound packets are checked
 * where their floating destination is found (gw_ingress, and int_ingress for hairpin), outbound ones where their
 * floating source is (gw_egress, int_egress); a packet over a limit is dropped and counted in that bucket. The
 * bucket's state lives in the same map value, so a limit change is one map write (no program reload); the write
 * replaces the whole value, so the bucket starts full again, as a re-added nftables element does.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

/* Map layout: the agent creates maps with exactly these sizes (src/dataplane/ebpf/layout.ts). */
struct router_config {
	__u32 gateway_ip;   /* network order: the router's own external address (shared SNAT source) */
	__u32 untrack_mark; /* mark bit the nft raw chain turns into notrack */
	__u32 hairpin_mark; /* mark bit for hairpin through shared SNAT (a source without a floating IP) */
	__u32 flags;        /* CONFIG_ANTI_SPOOFING | CONFIG_PORT_FORWARDING | CONFIG_FAST_PATH */
	__u32 gateway_ifindex; /* the gateway device in the router's namespace: where outbound fast-path packets go */
};

/* Anti-spoofing (as the nftables backend): nothing from outside may be addressed straight to an internal
 * address, and a fixed IP that has a floating IP must come from its port's MAC. */
#define CONFIG_ANTI_SPOOFING 1
/* The router has port forwardings: only then do the programs spend the pf_* lookups. */
#define CONFIG_PORT_FORWARDING 2
/* Forward eligible packets past the stack (the router's fast-path option, on by default). */
#define CONFIG_FAST_PATH 4

struct port_mac {
	__u8 addr[6];
	__u8 pad[2];
};

struct net_key {
	__u32 prefixlen; /* LPM trie keys: prefix length in host order, then the address */
	__u32 addr;
};

struct fip_counters {
	__u64 in_packets;
	__u64 in_bytes;
	__u64 out_packets;
	__u64 out_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fip2fixed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fixed2fip SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fip_counters);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct router_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct port_mac);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fixed_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__type(key, struct net_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} internal_nets SEC(".maps");

/* A socket of a forwarding: address and port in network order, the IP protocol number. */
struct pf_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct pf_val {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct pf_key);
	__type(value, struct pf_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pf_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct pf_key);
	__type(value, struct pf_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pf_out SEC(".maps");

/*
 * Fast path: the router's devices that are a veth (or netkit) whose peer lives in another namespace, with no root
 * qdisc of their own (ifindex -> 1, written by the agent from `ip -d address`). A packet for such a device is
 * handed with bpf_redirect_peer straight to the peer's ingress, in the same softirq: no veth transmit, no backlog,
 * no second softirq. The kernel drops a redirect_peer to any other device, so only a device listed here gets one;
 * every other device (a bridge, a physical NIC, a veth whose peer is in this namespace) gets bpf_redirect.
 * Built without it (-DSFIP_NO_REDIRECT_PEER) for a kernel that has the fast path's helpers but not this one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} peer_devs SEC(".maps");

/* A fragmented datagram as its fragments' headers name it, before translation; `side` is the side rewritten. */
struct frag_key {
	__u32 saddr;
	__u32 daddr;
	__u16 id;
	__u8 proto;
	__u8 side;
};

struct frag_val {
	__u32 addr; /* the new address of that side */
	__u32 fip;  /* the floating address, for the counters */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct frag_key);
	__type(value, struct frag_val);
} pf_frags SEC(".maps");

/*
 * One token bucket, as a GCRA (the virtual-scheduling form of a token bucket): `tat` is the time at which the
 * bucket would be full again. A packet costing `cost` ns of the rate conforms when max(tat, now) + cost lies at
 * most `tolerance` (the burst, as time at the rate) after now; then tat moves there. That is exactly a bucket of
 * `burst` refilled at `rate`, with one 64-bit word of state and no division by elapsed time.
 *
 * Why compare-and-swap on one shared word, and not a per-CPU map: the limit holds per floating IP, whatever CPU
 * its packets arrive on (RSS spreads flows, veth and GRO move them), and per-CPU buckets would each need the
 * whole rate (letting n x the limit through) or a fraction of it (starving a floating IP whose flows share one
 * CPU). A spin lock would need BTF for the agent-created map. The CAS loop is bounded (QOS_TRIES, unrolled for
 * the verifier); a packet that loses every race, under heavy contention on one address, is dropped, which errs
 * towards the limit.
 */
struct qos_bucket {
	__u64 tat;       /* bpf_ktime_get_ns() time; written by the programs */
	__u64 tolerance; /* ns: the burst at the rate; written by the agent */
	__u64 dropped;   /* packets this bucket dropped; written by the programs */
	__u32 rate;      /* kbit/s or packets/s; 0: no limit */
	__u32 burst;     /* kbit or packets, as the agent asked (for its read-back) */
};

enum qos_index { QOS_IN_BW = 0, QOS_IN_PPS = 1, QOS_OUT_BW = 2, QOS_OUT_PPS = 3 };

struct qos_limits {
	struct qos_bucket b[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qos_limits);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} qos SEC(".maps");

/*
 * Verifier cost (issue 15: a converge of 100 routers loads 400 programs, and the verifier was most of it). A static
 * function, inlined or not, is verified again at every call and along every path that reaches the call, so a
 * program's paths multiply through it. A global function (external linkage, never inlined) is verified once per
 * program, on its own, knowing only its arguments' types (kernel 5.6, pointer arguments 5.12), and its caller
 * goes on with an unknown scalar as its result. So the pieces that several paths of a program reach are global.
 * What that asks of them: arguments are scalars, the skb, or pointers to memory (the caller's stack, the config
 * value), which may be NULL and are checked, and initialised (the verifier lets only CAP_PERFMON pass uninitialised
 * stack to a global function); the result is a scalar (void needs a newer kernel); no map as an
 * argument (not allowed), hence one function per map; and callers keep no packet pointer across a call to one
 * that writes the packet (kernels before 6.13 do not invalidate them).
 */
#define SFIP_GLOBAL __attribute__((noinline))

#define QOS_TRIES 4
#define NS_PER_SEC 1000000000ULL
/* ns per byte at 1 kbit/s: 8 bits per byte, 1,000 bit/s per kbit/s. */
#define NS_PER_BYTE_KBPS 8000000ULL

/* Takes `cost` ns of the bucket's rate; 1 when the packet conforms. */
static __always_inline int bucket_take(struct qos_bucket *b, __u64 now, __u64 cost)
{
#pragma unroll
	for (int i = 0; i < QOS_TRIES; i++) {
		__u64 tat = *(volatile __u64 *)&b->tat;
		__u64 next = (tat > now ? tat : now) + cost;
		/* A packet costing more than the whole burst (a 64 KB GRO packet through a small bucket) passes when
		 * the bucket is full and leaves it in debt, as tc police's `mtu` allows: the rate still holds, and
		 * such a flow is not starved for ever. */
		if (next - now > b->tolerance && tat > now)
			return 0;
		if (__sync_val_compare_and_swap(&b->tat, tat, next) == tat)
			return 1;
	}
	return 0;
}

/* 1 when a packet of `ip_len` bytes to (inbound) or from the floating address is over one of its limits. */
SFIP_GLOBAL int over_limit(__u32 fip, __u32 ip_len, int inbound)
{
	struct qos_limits *l = bpf_map_lookup_elem(&qos, &fip);
	if (!l)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct qos_bucket *bw = &l->b[inbound ? QOS_IN_BW : QOS_OUT_BW];
	struct qos_bucket *pps = &l->b[inbound ? QOS_IN_PPS : QOS_OUT_PPS];
	/* Bytes first, then packets, as the nftables backend's two rules: a packet the second drops has still
	 * spent bytes of the first. */
	if (bw->rate && !bucket_take(bw, now, ip_len * NS_PER_BYTE_KBPS / bw->rate)) {
		__sync_fetch_and_add(&bw->dropped, 1);
		return 1;
	}
	if (pps->rate && !bucket_take(pps, now, NS_PER_SEC / pps->rate)) {
		__sync_fetch_and_add(&pps->dropped, 1);
		return 1;
	}
	return 0;
}

/* skb->len at tc counts the Ethernet header; limits count the IP packet, as nftables' do. */
static __always_inline __u32 ip_len(const struct __sk_buff *skb)
{
	return skb->len > ETH_HLEN ? skb->len - ETH_HLEN : 0;
}

enum side { SRC = 0, DST = 1 };

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define ADDR_OFF(base, s) ((base) + ((s) == SRC ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr)))

static __always_inline struct router_config *router_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config, &zero);
}

SFIP_GLOBAL int count(__u32 fip, __u32 len, int inbound)
{
	struct fip_counters *c = bpf_map_lookup_elem(&counters, &fip);
	if (!c) {
		struct fip_counters zero = {};
		/* A full counter map only costs the counting, never the translation. */
		bpf_map_update_elem(&counters, &fip, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counters, &fip);
		if (!c)
			return 0;
	}
	if (inbound) {
		c->in_packets++;
		c->in_bytes += len;
	} else {
		c->out_packets++;
		c->out_bytes += len;
	}
	return 0;
}

/*
 * Reads the outer IPv4 header; returns 0 when the packet is not IPv4 over Ethernet. Straight from the packet when
 * the header is in the linear part (always, for what drivers and the stack hand to tc), with the helper's copy
 * otherwise: a direct read is a few loads, a bpf_skb_load_bytes a helper call.
 */
static __always_inline int load_ip(struct __sk_buff *skb, struct iphdr *ip)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + IP_OFF + sizeof(*ip) <= data_end)
		*ip = *(struct iphdr *)(data + IP_OFF);
	else if (bpf_skb_load_bytes(skb, IP_OFF, ip, sizeof(*ip)) < 0)
		return 0;
	return ip->version == 4 && ip->ihl >= 5;
}

/* Folds a 32-bit one's-complement sum to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

/* An IP header checksum after one of its addresses changed: ~(~HC + ~m + m') over the address's two 16-bit words
 * (RFC 1624); byte order does not matter to a one's-complement sum. */
static __always_inline __u16 csum_replace_addr(__u16 check, __u32 old_addr, __u32 new_addr)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~(old_addr & 0xffff) + (__u16)~(old_addr >> 16);
	sum += (new_addr & 0xffff) + (new_addr >> 16);
	return ~csum_fold32(sum);
}

/*
 * Writes side `s` of the outer IP header and patches its checksum. By direct packet access when the header is in
 * the linear part (the kernel unclones the skb before a tc program that writes it runs), which replaces two helper
 * calls (bpf_l3_csum_replace, bpf_skb_store_bytes) by three stores; with the helpers otherwise. Packet pointers are
 * taken here, after any helper that may have moved the data (bpf_l4_csum_replace).
 */
static __always_inline void set_ip_addr(struct __sk_buff *skb, enum side s, __u32 old_addr, __u32 new_addr)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + IP_OFF;
	if ((void *)(iph + 1) <= data_end) {
		iph->check = csum_replace_addr(iph->check, old_addr, new_addr);
		if (s == SRC)
			iph->saddr = new_addr;
		else
			iph->daddr = new_addr;
		return;
	}
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, 4);
	bpf_skb_store_bytes(skb, ADDR_OFF(IP_OFF, s), &new_addr, 4, 0);
}

/*
 * Patches the address quoted inside an ICMP error. `s` is the quoted header's side to translate. Returns 1 when
 * something was rewritten.
 */
static __always_inline int rewrite_icmp_quote(struct __sk_buff *skb, __u32 icmp_off, enum side s, void *map)
{
	__u32 inner_off = icmp_off + 8;
	struct iphdr inner;
	if (bpf_skb_load_bytes(skb, inner_off, &inner, sizeof(inner)) < 0)
		return 0;
	if (inner.version != 4 || inner.ihl < 5)
		return 0;
	__u32 old_addr = s == SRC ? inner.saddr : inner.daddr;
	__u32 *mapped = bpf_map_lookup_elem(map, &old_addr);
	if (!mapped)
		return 0;
	__u32 new_addr = *mapped;
	__u32 inner_l4 = inner_off + inner.ihl * 4;
	__u16 old_ip_csum = inner.check;
	__u16 new_ip_csum = 0;
	__u16 old_l4_csum = 0, new_l4_csum = 0;
	int l4_csum_off = -1;

	/* The quoted L4 checksum covers a pseudo-header with the quoted address, so it changes with it. */
	if (!(inner.frag_off & bpf_htons(IP_OFFSET))) {
		if (inner.protocol == IPPROTO_TCP)
			l4_csum_off = inner_l4 + 16;
		else if (inner.protocol == IPPROTO_UDP)
			l4_csum_off = inner_l4 + 6;
	}
	if (l4_csum_off >= 0 && bpf_skb_load_bytes(skb, l4_csum_off, &old_l4_csum, 2) < 0)
		l4_csum_off = -1; /* the quote is too short to hold it */
	if (l4_csum_off >= 0 && inner.protocol == IPPROTO_UDP && old_l4_csum == 0)
		l4_csum_off = -1; /* no UDP checksum: stays zero */

	if (bpf_l3_csum_replace(skb, inner_off + offsetof(struct iphdr, check), old_addr, new_addr, 4) < 0)
		return 0;
	if (l4_csum_off >= 0) {
		if (bpf_l3_csum_replace(skb, l4_csum_off, old_addr, new_addr, 4) < 0)
			return 0;
		bpf_skb_load_bytes(skb, l4_csum_off, &new_l4_csum, 2);
		if (new_l4_csum == 0 && inner.protocol == IPPROTO_UDP) {
			new_l4_csum = 0xffff;
			bpf_skb_store_bytes(skb, l4_csum_off, &new_l4_csum, 2, 0);
		}
	}
	if (bpf_skb_store_bytes(skb, ADDR_OFF(inner_off, s), &new_addr, 4, 0) < 0)
		return 0;
	bpf_skb_load_bytes(skb, inner_off + offsetof(struct iphdr, check), &new_ip_csum, 2);

	/* The ICMP checksum has no pseudo-header and covers the quote: feed it every changed word. */
	__u32 icmp_csum = icmp_off + 2;
	bpf_l4_csum_replace(skb, icmp_csum, old_addr, new_addr, 4);
	bpf_l4_csum_replace(skb, icmp_csum, old_ip_csum, new_ip_csum, 2);
	if (l4_csum_off >= 0)
		bpf_l4_csum_replace(skb, icmp_csum, old_l4_csum, new_l4_csum, 2);
	return 1;
}

static __always_inline int is_icmp_error(struct __sk_buff *skb, const struct iphdr *ip, __u32 l4_off)
{
	__u8 type;
	if (ip->protocol != IPPROTO_ICMP || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return 0;
	if (bpf_skb_load_bytes(skb, l4_off, &type, 1) < 0)
		return 0;
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

/*
 * Translates one side of the outer header `ip` (as load_ip read it) through `map`, and for ICMP errors the opposite
 * side of the quoted header through the same map. Returns the address the outer side had before, or 0 when it was
 * not mapped; `*translated` gets the new one (so callers need not look it up again).
 */
static __always_inline __u32 translate_with(struct __sk_buff *skb, const struct iphdr *ip, enum side s, void *map,
					    __u32 *translated)
{
	__u32 l4_off = IP_OFF + ip->ihl * 4;
	if (is_icmp_error(skb, ip, l4_off))
		rewrite_icmp_quote(skb, l4_off, s == SRC ? DST : SRC, map);

	__u32 old_addr = s == SRC ? ip->saddr : ip->daddr;
	__u32 *mapped = bpf_map_lookup_elem(map, &old_addr);
	if (!mapped)
		return 0;
	__u32 new_addr = *mapped;

	if (!(ip->frag_off & bpf_htons(IP_OFFSET))) {
		if (ip->protocol == IPPROTO_TCP)
			bpf_l4_csum_replace(skb, l4_off + 16, old_addr, new_addr, BPF_F_PSEUDO_HDR | 4);
		else if (ip->protocol == IPPROTO_UDP)
			bpf_l4_csum_replace(skb, l4_off + 6, old_addr, new_addr,
					    BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
	}
	set_ip_addr(skb, s, old_addr, new_addr);
	*translated = new_addr;
	return old_addr;
}

/* translate_with, one per map: inbound destination floating -> fixed, outbound source fixed -> floating. */
SFIP_GLOBAL __u32 translate_in(struct __sk_buff *skb, const struct iphdr *ip, __u32 *translated)
{
	if (!ip || !translated)
		return 0;
	return translate_with(skb, ip, DST, &fip2fixed, translated);
}

SFIP_GLOBAL __u32 translate_out(struct __sk_buff *skb, const struct iphdr *ip, __u32 *translated)
{
	if (!ip || !translated)
		return 0;
	return translate_with(skb, ip, SRC, &fixed2fip, translated);
}

static __always_inline int forwarding_on(const struct router_config *cfg)
{
	return cfg && (cfg->flags & CONFIG_PORT_FORWARDING);
}

/* The socket on side `s` of a TCP or UDP packet that is not a non-first fragment; 0 when there is none. */
static __always_inline int load_socket(struct __sk_buff *skb, const struct iphdr *ip, enum side s,
				       struct pf_key *key)
{
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return 0;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return 0;
	__u16 port;
	if (bpf_skb_load_bytes(skb, IP_OFF + ip->ihl * 4 + (s == SRC ? 0 : 2), &port, 2) < 0)
		return 0;
	key->addr = s == SRC ? ip->saddr : ip->daddr;
	key->port = port;
	key->proto = ip->protocol;
	key->pad = 0;
	return 1;
}

/* Is the socket on side `s` a key of `map`? (For the untrack decision, before anything is rewritten.) */
static __always_inline int socket_in(struct __sk_buff *skb, const struct iphdr *ip, enum side s, void *map)
{
	struct pf_key key;
	return load_socket(skb, ip, s, &key) && bpf_map_lookup_elem(map, &key) != NULL;
}

/*
 * Port forwarding of a TCP or UDP packet: side `s` (DST through pf_in inbound, SRC through pf_out outbound) gets
 * the address and port `map` holds for it. The address is in the L4 pseudo-header, the port in the L4 header:
 * two updates of the L4 checksum, and BPF_F_MARK_MANGLED_0 keeps a zero UDP checksum zero. Non-first fragments
 * get the address their first fragment got. Returns the forwarding's floating address, or 0 when nothing matched.
 */
static __always_inline __u32 forward_with(struct __sk_buff *skb, enum side s, void *map)
{
	struct iphdr ip;
	if (!load_ip(skb, &ip))
		return 0;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return 0;
	__u32 old_addr = s == SRC ? ip.saddr : ip.daddr;
	struct frag_key fk = {
		.saddr = ip.saddr, .daddr = ip.daddr, .id = ip.id, .proto = ip.protocol, .side = s
	};
	if (ip.frag_off & bpf_htons(IP_OFFSET)) {
		struct frag_val *fv = bpf_map_lookup_elem(&pf_frags, &fk);
		if (!fv)
			return 0;
		__u32 new_addr = fv->addr, fip = fv->fip;
		bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, 4);
		bpf_skb_store_bytes(skb, ADDR_OFF(IP_OFF, s), &new_addr, 4, 0);
		return fip;
	}
	struct pf_key key;
	if (!load_socket(skb, &ip, s, &key))
		return 0;
	struct pf_val *found = bpf_map_lookup_elem(map, &key);
	if (!found)
		return 0;
	__u32 new_addr = found->addr;
	__u16 old_port = key.port, new_port = found->port;
	__u32 fip = s == DST ? old_addr : new_addr;
	__u32 l4_off = IP_OFF + ip.ihl * 4;
	__u32 csum_off = l4_off + (ip.protocol == IPPROTO_TCP ? 16 : 6);
	__u64 zero_stays = ip.protocol == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, BPF_F_PSEUDO_HDR | zero_stays | 4);
	bpf_l4_csum_replace(skb, csum_off, old_port, new_port, zero_stays | 2);
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, 4);
	bpf_skb_store_bytes(skb, ADDR_OFF(IP_OFF, s), &new_addr, 4, 0);
	bpf_skb_store_bytes(skb, l4_off + (s == SRC ? 0 : 2), &new_port, 2, 0);
	if (ip.frag_off & bpf_htons(IP_MF)) {
		struct frag_val fv = { .addr = new_addr, .fip = fip };
		bpf_map_update_elem(&pf_frags, &fk, &fv, BPF_ANY);
	}
	return fip;
}

/*
 * An ICMP error about a forwarded flow: the quoted socket on side `qs` is looked up in `map` and rewritten,
 * address and port, with the quoted IP and L4 checksums and the outer ICMP checksum. The outer address on the
 * other side becomes the new one too when it is the quoted one (the error came from, or goes to, the host the
 * quote names); an error the router generated keeps the router's source. Returns the floating address, or 0.
 */
/* forward_with, one per map: inbound destinations through pf_in, outbound sources through pf_out. */
SFIP_GLOBAL __u32 forward_in(struct __sk_buff *skb)
{
	return forward_with(skb, DST, &pf_in);
}

SFIP_GLOBAL __u32 forward_out(struct __sk_buff *skb)
{
	return forward_with(skb, SRC, &pf_out);
}

static __always_inline __u32 forward_icmp_error_with(struct __sk_buff *skb, enum side qs, void *map)
{
	struct iphdr ip;
	if (!load_ip(skb, &ip))
		return 0;
	__u32 icmp_off = IP_OFF + ip.ihl * 4;
	if (!is_icmp_error(skb, &ip, icmp_off))
		return 0;
	__u32 inner_off = icmp_off + 8;
	struct iphdr inner;
	if (bpf_skb_load_bytes(skb, inner_off, &inner, sizeof(inner)) < 0)
		return 0;
	if (inner.version != 4 || inner.ihl < 5 || (inner.frag_off & bpf_htons(IP_OFFSET)))
		return 0;
	if (inner.protocol != IPPROTO_TCP && inner.protocol != IPPROTO_UDP)
		return 0;
	__u32 inner_l4 = inner_off + inner.ihl * 4;
	__u16 old_port;
	if (bpf_skb_load_bytes(skb, inner_l4 + (qs == SRC ? 0 : 2), &old_port, 2) < 0)
		return 0;
	__u32 old_addr = qs == SRC ? inner.saddr : inner.daddr;
	struct pf_key key = { .addr = old_addr, .port = old_port, .proto = inner.protocol };
	struct pf_val *found = bpf_map_lookup_elem(map, &key);
	if (!found)
		return 0;
	__u32 new_addr = found->addr;
	__u16 new_port = found->port;
	__u32 fip = qs == SRC ? old_addr : new_addr;

	int l4_csum_off = inner_l4 + (inner.protocol == IPPROTO_TCP ? 16 : 6);
	__u16 old_l4_csum = 0, new_l4_csum = 0, old_ip_csum = inner.check, new_ip_csum = 0;
	if (bpf_skb_load_bytes(skb, l4_csum_off, &old_l4_csum, 2) < 0)
		l4_csum_off = -1; /* the quote is too short to hold it */
	if (l4_csum_off >= 0 && inner.protocol == IPPROTO_UDP && old_l4_csum == 0)
		l4_csum_off = -1; /* no UDP checksum: stays zero */
	/* The quoted L4 checksum is payload to the kernel: plain incremental updates (l3_csum_replace). */
	if (l4_csum_off >= 0) {
		bpf_l3_csum_replace(skb, l4_csum_off, old_addr, new_addr, 4);
		bpf_l3_csum_replace(skb, l4_csum_off, old_port, new_port, 2);
		bpf_skb_load_bytes(skb, l4_csum_off, &new_l4_csum, 2);
		if (new_l4_csum == 0 && inner.protocol == IPPROTO_UDP) {
			new_l4_csum = 0xffff;
			bpf_skb_store_bytes(skb, l4_csum_off, &new_l4_csum, 2, 0);
		}
	}
	if (bpf_l3_csum_replace(skb, inner_off + offsetof(struct iphdr, check), old_addr, new_addr, 4) < 0)
		return 0;
	bpf_skb_store_bytes(skb, ADDR_OFF(inner_off, qs), &new_addr, 4, 0);
	bpf_skb_store_bytes(skb, inner_l4 + (qs == SRC ? 0 : 2), &new_port, 2, 0);
	bpf_skb_load_bytes(skb, inner_off + offsetof(struct iphdr, check), &new_ip_csum, 2);

	/* The ICMP checksum has no pseudo-header and covers the quote: feed it every changed word. */
	__u32 icmp_csum = icmp_off + 2;
	bpf_l4_csum_replace(skb, icmp_csum, old_addr, new_addr, 4);
	bpf_l4_csum_replace(skb, icmp_csum, old_port, new_port, 2);
	bpf_l4_csum_replace(skb, icmp_csum, old_ip_csum, new_ip_csum, 2);
	if (l4_csum_off >= 0)
		bpf_l4_csum_replace(skb, icmp_csum, old_l4_csum, new_l4_csum, 2);

	/* The outer header: the side opposite the quote's (inbound the destination, outbound the source). */
	enum side os = qs == SRC ? DST : SRC;
	__u32 outer = os == SRC ? ip.saddr : ip.daddr;
	if (outer == old_addr) {
		bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, 4);
		bpf_skb_store_bytes(skb, ADDR_OFF(IP_OFF, os), &new_addr, 4, 0);
	}
	return fip;
}

/* forward_icmp_error_with, one per map: errors coming in quote a forwarded socket's floating side (pf_in), errors
 * going out its internal side (pf_out). */
SFIP_GLOBAL __u32 forward_icmp_error_in(struct __sk_buff *skb)
{
	return forward_icmp_error_with(skb, SRC, &pf_in);
}

SFIP_GLOBAL __u32 forward_icmp_error_out(struct __sk_buff *skb)
{
	return forward_icmp_error_with(skb, DST, &pf_out);
}

/* Outside traffic addressed straight to an internal address (before any translation: a floating destination
 * is not internal). Shared-SNAT replies are addressed to the gateway address, so they pass. */
static __always_inline int addressed_inside(__u32 daddr)
{
	struct net_key key = { .prefixlen = 32, .addr = daddr };
	return bpf_map_lookup_elem(&internal_nets, &key) != NULL;
}

/* A source that has a floating IP but does not come from its port's MAC (or has no known port MAC). */
static __always_inline int forged_source(struct __sk_buff *skb, __u32 src)
{
	struct port_mac *want = bpf_map_lookup_elem(&fixed_macs, &src);
	__u8 mac[6];
	if (!want)
		return 1;
	/* Straight from the packet when the Ethernet header is in the linear part, as load_ip reads. */
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) <= data_end)
		__builtin_memcpy(mac, eth->h_source, 6);
	else if (bpf_skb_load_bytes(skb, 6, mac, 6) < 0)
		return 1;
	for (int i = 0; i < 6; i++)
		if (mac[i] != want->addr[i])
			return 1;
	return 0;
}


#ifndef SFIP_NO_FAST_PATH
#ifndef AF_INET
#define AF_INET 2
#endif

/*
 * Can this packet skip the stack? Only a plain IPv4 packet addressed to this router's MAC (no options, not a
 * fragment) with TTL left, that is not an ICMP error. Everything else goes the stack's way, which answers it (time-exceeded) or handles it
 * correctly (fragments, quotes in errors).
 */
static __always_inline int fast_eligible(struct __sk_buff *skb, const struct iphdr *ip)
{
	/* A frame for another MAC (flooded by a bridge, or sent to a router that no longer owns the address after a
	 * failover) is dropped by the stack's ip_rcv; forwarding it here would duplicate it. */
	if (skb->pkt_type != PACKET_HOST)
		return 0;
	if (ip->ihl != 5 || ip->ttl <= 1 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return 0;
	return !is_icmp_error(skb, ip, IP_OFF + sizeof(*ip));
}

/*
 * The next hop for a packet from `src` to `dst` that entered on `ifindex`, as the router's routing table and
 * neighbour table give it. 0 unless the kernel would forward it to a resolved neighbour without fragmenting: a
 * local destination, no route, an unresolved neighbour or a packet over the egress MTU all go to the stack.
 */
static __always_inline int next_hop(struct __sk_buff *skb, const struct iphdr *ip, __u32 src, __u32 dst,
				    struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->ifindex = skb->ingress_ifindex;
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	/* With tot_len set the lookup checks the route's MTU (`ip route ... mtu 1280`), which bpf_check_mtu below
	 * does not see: it knows only the device's. A GSO packet is checked by the size of its segments. */
	fib->tot_len = bpf_ntohs(ip->tot_len);
	if (skb->gso_size) {
		__u32 l4_len = 8; /* UDP */
		if (ip->protocol == IPPROTO_TCP) {
			__u8 doff;
			if (bpf_skb_load_bytes(skb, IP_OFF + sizeof(*ip) + 12, &doff, 1) < 0)
				return 0;
			l4_len = (doff >> 4) * 4;
		} else if (ip->protocol != IPPROTO_UDP) {
			return 0;
		}
		fib->tot_len = sizeof(*ip) + l4_len + skb->gso_size;
	}
	if (bpf_fib_lookup(skb, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return 0; /* FRAG_NEEDED (route MTU), NOT_FWDED (local), NO_NEIGH, no route, ... */
	if (fib->ifindex == skb->ingress_ifindex)
		return 0; /* out where it came from: the stack sends a redirect or drops it, as it sees fit */
	/* The egress device's MTU, for the packet as it is (GSO: per segment). */
	__u32 mtu_len = 0;
	if (bpf_check_mtu(skb, fib->ifindex, &mtu_len, 0, 0) != BPF_MTU_CHK_RET_SUCCESS)
		return 0;
	return 1;
}

/*
 * Rewrites side `s` of an eligible packet from `old_addr` to `new_addr`, takes one from the TTL (the forwarding the
 * stack would have done), writes the next hop's Ethernet header and redirects to the egress device.
 *
 * Why direct packet access and not bpf_skb_store_bytes / bpf_l3_csum_replace as translate() does: five helper calls
 * per packet became plain stores (the kernel unclones the skb before a tc program that writes it runs). The L4
 * checksum keeps bpf_l4_csum_replace: it knows CHECKSUM_PARTIAL packets (the pseudo-header sum a local sender left
 * for the device) and UDP's zero checksum. It comes first, because a helper that may move the packet's data
 * invalidates packet pointers. The IP header checksum is updated incrementally (RFC 1624) for the address, and as
 * the stack's ip_decrease_ttl does for the TTL.
 */
static __always_inline int fast_forward(struct __sk_buff *skb, const struct iphdr *ip, enum side s,
					__u32 old_addr, __u32 new_addr, const struct bpf_fib_lookup *fib)
{
	__u32 l4_off = IP_OFF + sizeof(*ip);
	if (ip->protocol == IPPROTO_TCP)
		bpf_l4_csum_replace(skb, l4_off + 16, old_addr, new_addr, BPF_F_PSEUDO_HDR | 4);
	else if (ip->protocol == IPPROTO_UDP)
		bpf_l4_csum_replace(skb, l4_off + 6, old_addr, new_addr, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + ETH_HLEN + sizeof(struct iphdr) > data_end) {
		/* Headers outside the linear part (rare: drivers and the stack put them there). */
		if (bpf_skb_pull_data(skb, ETH_HLEN + sizeof(struct iphdr)) < 0)
			return TC_ACT_SHOT;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (data + ETH_HLEN + sizeof(struct iphdr) > data_end)
			return TC_ACT_SHOT;
	}
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;

	__u16 check = csum_replace_addr(iph->check, old_addr, new_addr);
	/* TTL - 1: the header's TTL/protocol word drops by 0x0100, so its checksum rises by as much (end-around). */
	__u32 ttl_check = (__u32)check + bpf_htons(0x0100);
	iph->check = (__u16)(ttl_check + (ttl_check >= 0xffff));
	iph->ttl--;
	if (s == SRC)
		iph->saddr = new_addr;
	else
		iph->daddr = new_addr;

	/* The peer's stack does not parse the Ethernet header again, but captures beyond the router must show the
	 * next hop's addresses, as after bpf_redirect. */
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	__u32 egress = fib->ifindex;
#ifndef SFIP_NO_REDIRECT_PEER
	if (bpf_map_lookup_elem(&peer_devs, &egress))
		return bpf_redirect_peer(egress, 0);
#endif
	return bpf_redirect(egress, 0);
}

/* Inbound: a floating destination to its fixed address, straight to the internal device. -1: not taken. */
SFIP_GLOBAL int fast_inbound(struct __sk_buff *skb, const struct router_config *cfg, const struct iphdr *ip)
{
	struct bpf_fib_lookup fib;
	if (!cfg || !ip || !(cfg->flags & CONFIG_FAST_PATH) || !fast_eligible(skb, ip))
		return -1;
	/* A floating address of a port forwarding has no 1:1 entry, so a hit here is never a forwarded port. */
	__u32 fip = ip->daddr;
	__u32 *fixed = bpf_map_lookup_elem(&fip2fixed, &fip);
	if (!fixed)
		return -1;
	__u32 new_addr = *fixed;
	if (!next_hop(skb, ip, ip->saddr, new_addr, &fib))
		return -1;
	/* QoS as on the tc path: the floating IP's inbound limits, once (a packet passed to the stack meets them there). */
	if (over_limit(fip, ip_len(skb), 1))
		return TC_ACT_SHOT;
	count(fip, skb->len, 1);
	return fast_forward(skb, ip, DST, fip, new_addr, &fib);
}

/*
 * Outbound: a fixed source with a floating IP (its MAC already checked) to its floating address, straight to the
 * gateway device. The route is looked up for the fixed source, as the stack would; only a route out of the
 * gateway device is taken (anything else is east-west traffic, which keeps its fixed address). -1: not taken.
 */
SFIP_GLOBAL int fast_outbound(struct __sk_buff *skb, const struct router_config *cfg, const struct iphdr *ip,
			      __u32 fip)
{
	struct bpf_fib_lookup fib;
	if (!cfg || !ip || !(cfg->flags & CONFIG_FAST_PATH) || !fast_eligible(skb, ip))
		return -1;
	if (ip->daddr == cfg->gateway_ip)
		return -1;
	if (!next_hop(skb, ip, ip->saddr, ip->daddr, &fib) || fib.ifindex != cfg->gateway_ifindex)
		return -1;
	/* Its outbound limits here: gw_egress will not know the packet, whose source is already floating. */
	if (over_limit(fip, ip_len(skb), 0))
		return TC_ACT_SHOT;
	count(fip, skb->len, 0);
	return fast_forward(skb, ip, SRC, ip->saddr, fip, &fib);
}
#endif

SEC("tc")
int gw_ingress(struct __sk_buff *skb)
{
	struct router_config *cfg = router_config();
	/* The header is read once, here: everything below that is not IPv4 would have passed untouched anyway. */
	struct iphdr ip;
	if (!load_ip(skb, &ip))
		return TC_ACT_OK;
	if (cfg && (cfg->flags & CONFIG_ANTI_SPOOFING) && addressed_inside(ip.daddr))
		return TC_ACT_SHOT;
#ifndef SFIP_NO_FAST_PATH
	if (cfg) {
		int verdict = fast_inbound(skb, cfg, &ip);
		if (verdict >= 0)
			return verdict;
	}
#endif
	__u32 fip = 0, fixed = 0;
	if (forwarding_on(cfg)) {
		fip = forward_in(skb);
		if (!fip)
			/* Errors about packets a forwarded port sent quote FIP:external as their source. */
			fip = forward_icmp_error_in(skb);
	}
	/* forward() and forward_icmp_error() leave the outer header as it was when they find nothing. */
	if (!fip)
		fip = translate_in(skb, &ip, &fixed);
	if (fip) {
		if (over_limit(fip, ip_len(skb), 1))
			return TC_ACT_SHOT;
		count(fip, skb->len, 1);
		if (cfg)
			skb->mark |= cfg->untrack_mark;
	}
	return TC_ACT_OK;
}

SEC("tc")
int gw_egress(struct __sk_buff *skb)
{
	if (forwarding_on(router_config())) {
		__u32 len = skb->len;
		__u32 fip = forward_out(skb);
		if (!fip)
			/* Errors about packets sent to a forwarded port quote its internal socket as destination. */
			fip = forward_icmp_error_out(skb);
		if (fip) {
			if (over_limit(fip, ip_len(skb), 0))
				return TC_ACT_SHOT;
			count(fip, len, 0);
			return TC_ACT_OK;
		}
	}
	struct iphdr ip;
	__u32 fip = 0;
	if (load_ip(skb, &ip) && translate_out(skb, &ip, &fip)) {
		if (over_limit(fip, ip_len(skb), 0))
			return TC_ACT_SHOT;
		count(fip, skb->len, 0);
	}
	return TC_ACT_OK;
}

SEC("tc")
int int_ingress(struct __sk_buff *skb)
{
	struct router_config *cfg = router_config();
	struct iphdr ip;
	if (!cfg || !load_ip(skb, &ip))
		return TC_ACT_OK;
	__u32 src = ip.saddr, dst = ip.daddr;
	__u32 *src_fip = bpf_map_lookup_elem(&fixed2fip, &src);
	int src_has_fip = src_fip != NULL;
	/* Otherwise a VM could have its packets translated into another VM's floating IP. */
	if (src_has_fip && (cfg->flags & CONFIG_ANTI_SPOOFING) && forged_source(skb, src))
		return TC_ACT_SHOT;
	/* A forwarded internal socket is stateless like a floating IP (its MAC is not checked, as in the nftables
	 * backend: anti-spoofing covers 1:1 floating IPs). */
	int pf = forwarding_on(cfg);
	int pf_socket = pf && socket_in(skb, &ip, SRC, &pf_out);
	if (pf_socket)
		src_has_fip = 1;
	/* Looked up once: the fast path and the hairpin case below both need it (forward() only changes the packet
	 * when it returns a floating address, and then the program is done). */
	int dst_floating = bpf_map_lookup_elem(&fip2fixed, &dst) != NULL;
#ifndef SFIP_NO_FAST_PATH
	/* Past anti-spoofing; hairpin (a floating destination) and forwarded sockets take the stack's path. */
	if (src_fip && !pf_socket && !dst_floating) {
		int verdict = fast_outbound(skb, cfg, &ip, *src_fip);
		if (verdict >= 0)
			return verdict;
	}
#endif

	if (pf) {
		/* Hairpin to a forwarded port: as for a 1:1 floating IP below. */
		__u32 len = skb->len;
		__u32 fip = forward_in(skb);
		if (fip) {
			if (over_limit(fip, ip_len(skb), 1))
				return TC_ACT_SHOT;
			count(fip, len, 1);
			skb->mark |= cfg->hairpin_mark;
			if (src_has_fip)
				skb->mark |= cfg->untrack_mark;
			return TC_ACT_OK;
		}
	}

	if (dst_floating) {
		/* Hairpin: a VM of this router reaches a floating IP of this router. The destination is translated
		 * here, before routing; the source only on the way out (int_egress): a floating source would be one
		 * of the router's own addresses and routing would drop the packet as a martian. */
		__u32 len = skb->len;
		if (over_limit(dst, ip_len(skb), 1))
			return TC_ACT_SHOT;
		__u32 fixed = 0;
		/* Port forwarding (above) found nothing, so the header is still as load_ip read it. */
		translate_in(skb, &ip, &fixed);
		count(dst, len, 1);
		skb->mark |= cfg->hairpin_mark;
		/* With a floating IP on both ends the whole exchange is stateless and untracked. A source without
		 * one cannot be translated statelessly (the reply would go straight back to it): it stays tracked,
		 * nft SNATs it to the gateway address and remembers the bit in the ct mark, so that the replies
		 * get the same bit and int_egress restores their floating source. */
		if (src_has_fip)
			skb->mark |= cfg->untrack_mark;
		return TC_ACT_OK;
	}
	/* Replies of the stateful hairpin above go to the gateway address: conntrack must see them. */
	if (dst == cfg->gateway_ip)
		return TC_ACT_OK;
	if (src_has_fip || bpf_map_lookup_elem(&fixed2fip, &dst))
		skb->mark |= cfg->untrack_mark;
	return TC_ACT_OK;
}

SEC("tc")
int int_egress(struct __sk_buff *skb)
{
	struct router_config *cfg = router_config();
	if (!cfg || !(skb->mark & cfg->hairpin_mark))
		return TC_ACT_OK;
	__u32 len = skb->len;
	if (forwarding_on(cfg)) {
		/* A forwarded socket's hairpin replies leave as FIP:external, before its VM's own 1:1 address. */
		__u32 pf_fip = forward_out(skb);
		if (pf_fip) {
			if (over_limit(pf_fip, ip_len(skb), 0))
				return TC_ACT_SHOT;
			count(pf_fip, len, 0);
			return TC_ACT_OK;
		}
	}
	struct iphdr ip;
	__u32 fip = 0;
	if (load_ip(skb, &ip) && translate_out(skb, &ip, &fip)) {
		if (over_limit(fip, ip_len(skb), 0))
			return TC_ACT_SHOT;
		count(fip, len, 0);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
