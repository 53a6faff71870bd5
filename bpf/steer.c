/* steer.c: TCP connection steering with sk_lookup. Attached to a network
 * namespace (a pinned netns link), it runs when the kernel looks up the
 * socket for a new connection, before the bound listeners are consulted, and
 * can hand the connection to any listening socket in weir_steer_socks:
 *
 *   destination port  --weir_steer_ports-->  port class
 *   (port class, destination address) --weir_steer_dst (LPM)--> rule, listener
 *   (rule, source address) --weir_steer_src (LPM)--> tenant listener (optional)
 *   listener slot --weir_steer_socks (SOCKMAP)--> socket --bpf_sk_assign-->
 *
 * So one socket serves a whole destination prefix and port range without a
 * bind per address, and a tenant class (by source CIDR) can have its own
 * listener, i.e. its own accept queue. An upgrade swaps the new process's
 * socket into the listener's slot; the old socket gets no new connection.
 *
 * Port classes: ports covered by the same set of rules share a class, so a
 * port range costs one hash entry per port and the LPM holds each rule's
 * prefixes once per class. Addresses are IPv6; IPv4 is IPv4-mapped
 * (::ffff:a.b.c.d), so one trie serves both families.
 *
 * Only TCP is steered (QUIC is steered by sk_reuseport, see
 * quic_reuseport.c). A connection no rule matches, or whose listener has no
 * socket, goes on to the normal lookup. Go bindings:
 * dataplane/steer/internal/steerbpf (go generate ./dataplane/steer).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Not from linux/in.h: it needs asm/byteorder.h, which bpf/include lacks. */
#define IPPROTO_TCP 6

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* WEIR_STEER_MAX_LISTENERS bounds the listener slots (SOCKMAP size). */
#define WEIR_STEER_MAX_LISTENERS 256
#define WEIR_STEER_MAX_PORTS 65536
#define WEIR_STEER_MAX_RULES 16384
#define WEIR_STEER_NAME_LEN 64

/* weir_steer_dst_key: prefixlen counts the 32 class bits plus address bits. */
struct weir_steer_dst_key {
	__u32 prefixlen;
	__u32 port_class;
	__u8 addr[16];
};

struct weir_steer_dst_val {
	__u32 rule;
	__u32 listener;
};

/* weir_steer_src_key: prefixlen counts the 32 rule bits plus address bits. */
struct weir_steer_src_key {
	__u32 prefixlen;
	__u32 rule;
	__u8 addr[16];
};

struct weir_steer_src_val {
	__u32 listener;
};

/* weir_steer_listener names a slot (written by the agent, for bpftool and
 * for the next process to find its listener's slot).
 */
struct weir_steer_listener {
	char name[WEIR_STEER_NAME_LEN];
};

/* weir_steer_stat: per listener slot and CPU. */
struct weir_steer_stat {
	__u64 steered;       /* assigned to the listener's socket */
	__u64 miss_no_socket; /* a rule chose the listener, its slot was empty */
	__u64 miss_assign;   /* bpf_sk_assign refused the socket */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_STEER_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_STEER_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_steer_dst_key);
	__type(value, struct weir_steer_dst_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_STEER_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_steer_src_key);
	__type(value, struct weir_steer_src_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, WEIR_STEER_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_STEER_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, struct weir_steer_listener);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_STEER_MAX_LISTENERS);
	__type(key, __u32);
	__type(value, struct weir_steer_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_steer_stats SEC(".maps");

/* weir_opaque keeps clang from turning loads of different context fields
 * into one load through a computed context pointer, which the verifier
 * rejects ("dereference of modified ctx ptr").
 */
#define weir_opaque(v) asm volatile("" : "+r"(v))

/* weir_addr fills a 16-byte key address: IPv4-mapped for AF_INET. The
 * context words are loaded one by one by the caller.
 */
static __always_inline void weir_addr(__u8 out[16], __u32 family, __u32 ip4, __u32 a, __u32 b, __u32 c, __u32 d)
{
	__u32 *w = (__u32 *)out;

	if (family == AF_INET) {
		w[0] = 0;
		w[1] = 0;
		w[2] = __builtin_bswap32(0x0000ffff); /* bpfel: network order */
		w[3] = ip4;
		return;
	}
	w[0] = a;
	w[1] = b;
	w[2] = c;
	w[3] = d;
}

/* WEIR_KEY_ADDR fills out from the lookup's local or remote address. */
#define WEIR_KEY_ADDR(out, ctx, side)                                        \
	do {                                                                 \
		__u32 ip4 = (ctx)->side##_ip4, a = (ctx)->side##_ip6[0];     \
		__u32 b = (ctx)->side##_ip6[1], c = (ctx)->side##_ip6[2];    \
		__u32 d = (ctx)->side##_ip6[3];                              \
		weir_opaque(ip4);                                            \
		weir_opaque(a);                                              \
		weir_opaque(b);                                              \
		weir_opaque(c);                                              \
		weir_opaque(d);                                              \
		weir_addr(out, (ctx)->family, ip4, a, b, c, d);              \
	} while (0)

/* weir_assign hands the connection to the listener's socket and counts it;
 * it returns 0 when it did.
 */
static __always_inline int weir_assign(struct bpf_sk_lookup *ctx, __u32 listener)
{
	struct weir_steer_stat *st = bpf_map_lookup_elem(&weir_steer_stats, &listener);
	struct bpf_sock *sk = bpf_map_lookup_elem(&weir_steer_socks, &listener);
	long err;

	if (!sk) {
		if (st)
			st->miss_no_socket++;
		return -1;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		if (st)
			st->miss_assign++;
		return -1;
	}
	if (st)
		st->steered++;
	return 0;
}

SEC("sk_lookup")
int weir_steer(struct bpf_sk_lookup *ctx)
{
	struct weir_steer_dst_key dk = {};
	struct weir_steer_src_key sk = {};
	struct weir_steer_dst_val *dst;
	struct weir_steer_src_val *src;
	__u32 *class;
	__u16 port;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	port = (__u16)ctx->local_port;
	class = bpf_map_lookup_elem(&weir_steer_ports, &port);
	if (!class)
		return SK_PASS;

	dk.prefixlen = 32 + 128;
	dk.port_class = *class;
	WEIR_KEY_ADDR(dk.addr, ctx, local);
	dst = bpf_map_lookup_elem(&weir_steer_dst, &dk);
	if (!dst)
		return SK_PASS;

	sk.prefixlen = 32 + 128;
	sk.rule = dst->rule;
	WEIR_KEY_ADDR(sk.addr, ctx, remote);
	src = bpf_map_lookup_elem(&weir_steer_src, &sk);
	/* A tenant class whose listener has no socket falls back to the rule's
	 * listener (counted as a miss of the tenant's).
	 */
	if (src && weir_assign(ctx, src->listener) == 0)
		return SK_PASS;
	weir_assign(ctx, dst->listener);
	return SK_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
