/* weir.h is the single source of truth for everything the guard shares with
 * user space: the verdict enum and the layout of every map key and value.
 * bpf2go turns these types into Go (dataplane/internal/guardbpf), so a change
 * here is a change of the pinned-map ABI: existing pins become incompatible
 * and the agent refuses them unless told to replace them.
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H

#include <linux/types.h>

/* weir_verdict is why the guard passed or dropped a packet. Numbers are never
 * reused: a retired reason keeps its number and a new one is appended, so
 * counters pinned by an older agent keep their meaning.
 */
enum weir_verdict {
	WEIR_PASS = 0,             /* classified and within every limit */
	WEIR_OVER_PACKET_RATE = 1, /* tenant packets/s bucket empty */
	WEIR_OVER_CONN_RATE = 2,   /* tenant new connections/s bucket empty */
	WEIR_OVER_SOURCE_RATE = 3, /* per-source new connections/s bucket empty */
	WEIR_DENIED = 4,           /* source matches a deny CIDR */
	WEIR_BLOCKED = 5,          /* tenant blocked by the agent until a deadline */
	WEIR_MALFORMED = 6,        /* truncated or invalid IP/L4 header */
	WEIR_PASS_NOT_IP = 7,      /* not IPv4/IPv6 (ARP, LLDP, ...): passed, unclassified */
	WEIR_PORT_DENIED = 8,      /* every route served on the destination port refuses the source */
	WEIR_OVER_PORT_SOURCE_RATE = 9, /* per-(port, source) new connections/s bucket empty */
	WEIR_VERDICT_MAX,          /* first unused number; not a verdict */
};

/* WEIR_DEFAULT_TENANT is the id of the default class: sources that match no
 * tenant CIDR. It has its own limits entry in weir_tenants.
 */
#define WEIR_DEFAULT_TENANT 0
#define WEIR_MAX_TENANTS 4096
#define WEIR_MAX_CLASSIFY 16384
#define WEIR_MAX_DENY 16384
#define WEIR_MAX_SOURCES 65536
#define WEIR_MAX_PORT_RULES 16384
#define WEIR_TENANT_NAME_LEN 64

#define WEIR_FAMILY_V4 4
#define WEIR_FAMILY_V6 6

/* weir_rate is one token bucket's configuration; per_sec == 0 means
 * unlimited. burst is how many events may pass at once (0 means 1).
 */
struct weir_rate {
	__u64 per_sec;
	__u64 burst;
};

/* weir_tenant is a tenant's entry in weir_tenants (key: tenant id). The name
 * is kept beside the limits so the ids survive restarts (the agent reuses the
 * id of a known name) and tools can print names without the config.
 */
struct weir_tenant {
	char name[WEIR_TENANT_NAME_LEN]; /* NUL-terminated unless 64 bytes long */
	struct weir_rate packets;      /* packets/s */
	struct weir_rate conns;        /* new connections/s (TCP SYN, QUIC Initial) */
	struct weir_rate src_conns;    /* new connections/s per source address */
};

/* weir_class_key is the LPM key of weir_classify. prefixlen counts the bits
 * that must match after the prefixlen field itself: 32 (dport, family, pad)
 * plus the CIDR length. dport is in network byte order; 0 means any port. An
 * IPv4 address sits in addr[0..3].
 */
struct weir_class_key {
	__u32 prefixlen;
	__be16 dport;
	__u8 family;
	__u8 pad;
	__u8 addr[16];
};

/* weir_class is the value of weir_classify. */
struct weir_class {
	__u32 tenant;
};

/* weir_deny_key is the LPM key of weir_deny: prefixlen = 32 + CIDR length. */
struct weir_deny_key {
	__u32 prefixlen;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* weir_deny is the value of weir_deny (reserved for flags). */
struct weir_deny {
	__u32 flags;
};

/* weir_port_key is the LPM key of weir_port_rules: prefixlen = 32 (dport,
 * proto, family) + CIDR length. dport is in network byte order; proto is the
 * L4 protocol (6 TCP, 17 UDP). A packet is looked up with its full source
 * address, so the longest (most specific) CIDR of its port decides.
 */
struct weir_port_key {
	__u32 prefixlen;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 addr[16];
};

/* weir_port_action is what a weir_port_rules entry does with the sources
 * it covers. PASS entries are exceptions carved out of a wider DROP or LIMIT
 * entry (an LPM trie has no "minus").
 */
enum weir_port_action {
	WEIR_PORT_PASS = 0,  /* no listener-wide rule */
	WEIR_PORT_DROP = 1,  /* every packet to the port is dropped */
	WEIR_PORT_LIMIT = 2, /* new connections to the port are rate-limited per source */
};

/* weir_port_rule is the value of weir_port_rules. src_conns is the
 * per-source new connections/s bound of WEIR_PORT_LIMIT entries.
 */
struct weir_port_rule {
	__u32 action; /* enum weir_port_action */
	__u32 pad;
	struct weir_rate src_conns;
};

/* weir_port_src_key is the key of the per-(port, source) LRU
 * weir_port_src_conns; its value is a weir_src_bucket.
 */
struct weir_port_src_key {
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 addr[16];
};

/* weir_bucket is a tenant's limiter state in weir_buckets. Each field is a
 * GCRA "theoretical arrival time" on the CLOCK_MONOTONIC nanosecond scale:
 * the bucket is full when tat <= now. One u64 per bucket, updated with
 * compare-and-swap, so the bucket is exact across CPUs without a lock.
 */
struct weir_bucket {
	__u64 packets_tat;
	__u64 conns_tat;
};

/* weir_src_key is the key of the per-source LRU weir_src_conns. */
struct weir_src_key {
	__u32 tenant;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* weir_src_bucket is the per-source new-connection limiter state. */
struct weir_src_bucket {
	__u64 tat;
};

/* weir_block is the value of weir_blocked (key: tenant id): the tenant's
 * packets are dropped while CLOCK_MONOTONIC < until_ns.
 */
struct weir_block {
	__u64 until_ns;
};

/* weir_counter_key is the key of the per-CPU weir_counters. */
struct weir_counter_key {
	__u32 tenant;
	enum weir_verdict verdict;
};

/* weir_counter is one CPU's count of packets and bytes for a key. */
struct weir_counter {
	__u64 packets;
	__u64 bytes;
};

#endif /* WEIR_WEIR_H */
