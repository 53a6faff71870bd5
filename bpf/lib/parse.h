/* parse.h reads the headers the guard needs (Ethernet with up to two VLAN
 * tags, IPv4 or IPv6 with a bounded extension-header chain, TCP or UDP) from
 * [data, data_end). Every read is bounds-checked first: a truncated or
 * inconsistent header yields WEIR_PARSE_MALFORMED, never an out-of-bounds
 * read. The header structs are our own, without bitfields, so the layout does
 * not depend on the build host's byte order headers.
 */
#ifndef WEIR_PARSE_H
#define WEIR_PARSE_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "weir.h"

#define WEIR_ETH_P_IP 0x0800
#define WEIR_ETH_P_IPV6 0x86DD
#define WEIR_ETH_P_8021Q 0x8100
#define WEIR_ETH_P_8021AD 0x88A8

#define WEIR_IPPROTO_HOPOPTS 0
#define WEIR_IPPROTO_TCP 6
#define WEIR_IPPROTO_UDP 17
#define WEIR_IPPROTO_ROUTING 43
#define WEIR_IPPROTO_FRAGMENT 44
#define WEIR_IPPROTO_AH 51
#define WEIR_IPPROTO_DSTOPTS 60
#define WEIR_IPPROTO_MH 135

#define WEIR_TCP_SYN 0x02
#define WEIR_TCP_ACK 0x10

/* WEIR_MAX_VLAN_TAGS covers 802.1Q and 802.1ad (QinQ). A frame with more tags
 * is malformed for our purposes: the IP stack would not deliver it either.
 */
#define WEIR_MAX_VLAN_TAGS 2
/* WEIR_MAX_EXT_HDRS bounds the IPv6 extension chain we walk. A longer chain
 * is dropped as malformed rather than passed unparsed, so stacking extension
 * headers cannot hide a SYN from the connection limits.
 */
#define WEIR_MAX_EXT_HDRS 8

/* QUIC (RFC 9000 §14.1): a client's Initial datagram is at least 1200 bytes. */
#define WEIR_QUIC_MIN_INITIAL 1200
#define WEIR_QUIC_V2 0x6b3343cf

struct weir_ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct weir_vlanhdr {
	__be16 tci;
	__be16 proto;
};

struct weir_ipv4hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct weir_ipv6hdr {
	__u8 ver_tc;
	__u8 tc_flow[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct weir_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct weir_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

struct weir_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
	__u16 check;
	__be16 urg_ptr;
};

struct weir_udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

enum weir_parse_result {
	WEIR_PARSE_OK = 0,
	WEIR_PARSE_NOT_IP,
	WEIR_PARSE_MALFORMED,
};

/* weir_pkt is what the guard knows about a packet after parsing. family is 0
 * until an IP source address has been read; has_l4 is 0 for non-first
 * fragments and protocols without ports.
 */
struct weir_pkt {
	__u8 family;
	__u8 l4proto;
	__u8 has_l4;
	__u8 new_conn;
	__be16 dport;
	__u8 saddr[16];
};

static __always_inline int weir_parse_udp(void *cur, void *data_end, struct weir_pkt *pkt)
{
	struct weir_udphdr *udp = cur;
	__u8 *q;

	if ((void *)(udp + 1) > data_end)
		return WEIR_PARSE_MALFORMED;
	pkt->has_l4 = 1;
	pkt->dport = udp->dest;

	/* A QUIC long header with packet type Initial (type 0 in v1 and the
	 * drafts, 1 in v2; version 0 is Version Negotiation) in a datagram of
	 * at least 1200 bytes opens a connection. Smaller "Initials" are
	 * discarded by servers anyway and only cost the packet budget.
	 */
	q = (__u8 *)(udp + 1);
	if ((void *)(q + 5) > data_end)
		return WEIR_PARSE_OK;
	if (!(q[0] & 0x80) || bpf_ntohs(udp->len) < sizeof(*udp) + WEIR_QUIC_MIN_INITIAL)
		return WEIR_PARSE_OK;
	{
		__u32 version = ((__u32)q[1] << 24) | ((__u32)q[2] << 16) | ((__u32)q[3] << 8) | q[4];
		__u8 type = (q[0] >> 4) & 0x3;

		if (version == WEIR_QUIC_V2)
			pkt->new_conn = type == 1;
		else if (version != 0)
			pkt->new_conn = type == 0;
	}
	return WEIR_PARSE_OK;
}

static __always_inline int weir_parse_l4(void *cur, void *data_end, struct weir_pkt *pkt)
{
	if (pkt->l4proto == WEIR_IPPROTO_TCP) {
		struct weir_tcphdr *tcp = cur;

		if ((void *)(tcp + 1) > data_end)
			return WEIR_PARSE_MALFORMED;
		if ((tcp->doff_res >> 4) < 5)
			return WEIR_PARSE_MALFORMED;
		pkt->has_l4 = 1;
		pkt->dport = tcp->dest;
		pkt->new_conn = (tcp->flags & (WEIR_TCP_SYN | WEIR_TCP_ACK)) == WEIR_TCP_SYN;
		return WEIR_PARSE_OK;
	}
	if (pkt->l4proto == WEIR_IPPROTO_UDP)
		return weir_parse_udp(cur, data_end, pkt);
	return WEIR_PARSE_OK; /* ICMP and friends: no ports, packet budget only */
}

static __always_inline int weir_parse_ipv4(void *cur, void *data_end, struct weir_pkt *pkt)
{
	struct weir_ipv4hdr *ip = cur;
	__u32 ihl;

	if ((void *)(ip + 1) > data_end)
		return WEIR_PARSE_MALFORMED;
	if ((ip->ver_ihl >> 4) != 4)
		return WEIR_PARSE_MALFORMED;
	ihl = (ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip))
		return WEIR_PARSE_MALFORMED;
	pkt->family = WEIR_FAMILY_V4;
	__builtin_memcpy(pkt->saddr, ip->saddr, 4);
	pkt->l4proto = ip->protocol;
	if (cur + ihl > data_end)
		return WEIR_PARSE_MALFORMED; /* options cut off */
	/* Only the first fragment carries the L4 header. */
	if (bpf_ntohs(ip->frag_off) & 0x1fff)
		return WEIR_PARSE_OK;
	return weir_parse_l4(cur + ihl, data_end, pkt);
}

static __always_inline int weir_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == WEIR_IPPROTO_HOPOPTS || nexthdr == WEIR_IPPROTO_ROUTING ||
	       nexthdr == WEIR_IPPROTO_DSTOPTS || nexthdr == WEIR_IPPROTO_MH ||
	       nexthdr == WEIR_IPPROTO_AH || nexthdr == WEIR_IPPROTO_FRAGMENT;
}

static __always_inline int weir_parse_ipv6(void *cur, void *data_end, struct weir_pkt *pkt)
{
	struct weir_ipv6hdr *ip6 = cur;
	__u8 nexthdr;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return WEIR_PARSE_MALFORMED;
	if ((ip6->ver_tc >> 4) != 6)
		return WEIR_PARSE_MALFORMED;
	pkt->family = WEIR_FAMILY_V6;
	__builtin_memcpy(pkt->saddr, ip6->saddr, 16);
	nexthdr = ip6->nexthdr;
	cur = ip6 + 1;

#pragma unroll
	for (i = 0; i < WEIR_MAX_EXT_HDRS; i++) {
		struct weir_ipv6_opt *opt = cur;

		switch (nexthdr) {
		case WEIR_IPPROTO_HOPOPTS:
		case WEIR_IPPROTO_ROUTING:
		case WEIR_IPPROTO_DSTOPTS:
		case WEIR_IPPROTO_MH:
			if ((void *)(opt + 1) > data_end)
				return WEIR_PARSE_MALFORMED;
			nexthdr = opt->nexthdr;
			cur += ((__u32)opt->hdrlen + 1) * 8;
			continue;
		case WEIR_IPPROTO_AH:
			if ((void *)(opt + 1) > data_end)
				return WEIR_PARSE_MALFORMED;
			nexthdr = opt->nexthdr;
			cur += ((__u32)opt->hdrlen + 2) * 4;
			continue;
		case WEIR_IPPROTO_FRAGMENT: {
			struct weir_ipv6_frag *frag = cur;

			if ((void *)(frag + 1) > data_end)
				return WEIR_PARSE_MALFORMED;
			nexthdr = frag->nexthdr;
			if (bpf_ntohs(frag->frag_off) & 0xfff8) {
				pkt->l4proto = nexthdr;
				return WEIR_PARSE_OK; /* non-first fragment: no L4 */
			}
			cur = frag + 1;
			continue;
		}
		}
		goto l4;
	}
	if (weir_ipv6_is_ext(nexthdr))
		return WEIR_PARSE_MALFORMED; /* chain longer than WEIR_MAX_EXT_HDRS */
l4:
	pkt->l4proto = nexthdr;
	return weir_parse_l4(cur, data_end, pkt);
}

/* weir_parse fills pkt from an Ethernet frame. */
static __always_inline int weir_parse(void *data, void *data_end, struct weir_pkt *pkt)
{
	struct weir_ethhdr *eth = data;
	void *cur;
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return WEIR_PARSE_MALFORMED;
	proto = eth->proto;
	cur = eth + 1;

#pragma unroll
	for (i = 0; i < WEIR_MAX_VLAN_TAGS; i++) {
		struct weir_vlanhdr *vlan = cur;

		if (proto != bpf_htons(WEIR_ETH_P_8021Q) && proto != bpf_htons(WEIR_ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > data_end)
			return WEIR_PARSE_MALFORMED;
		proto = vlan->proto;
		cur = vlan + 1;
	}

	if (proto == bpf_htons(WEIR_ETH_P_IP))
		return weir_parse_ipv4(cur, data_end, pkt);
	if (proto == bpf_htons(WEIR_ETH_P_IPV6))
		return weir_parse_ipv6(cur, data_end, pkt);
	if (proto == bpf_htons(WEIR_ETH_P_8021Q) || proto == bpf_htons(WEIR_ETH_P_8021AD))
		return WEIR_PARSE_MALFORMED; /* more tags than WEIR_MAX_VLAN_TAGS */
	return WEIR_PARSE_NOT_IP;
}

#endif /* WEIR_PARSE_H */
