/* quic_reuseport.c: steer each QUIC datagram to the SO_REUSEPORT socket
 * (worker) that owns its destination connection ID, across the processes
 * that share the port during an upgrade. Go loader: dataplane/quicsteer
 * (go generate ./dataplane/quicsteer).
 *
 * weir issues server connection IDs of a fixed length (weir_quic_cid_len,
 * at least 2) laid out as
 *
 *     byte 0   generation (one per weir process; a new process picks one
 *              that is not in use)
 *     byte 1   worker slot
 *     byte 2.. random
 *
 * weir_quic_sockets is indexed by generation << 8 | slot and pinned, so every
 * process serving the port (the draining old one and the new one) puts its
 * sockets into the same map, and whichever program is attached to the group
 * reaches all of them. The kernel removes a socket from the map when it
 * closes.
 *
 * Short-header packets carry the CID at offset 1; long-header 0-RTT and
 * Handshake packets carry it after the version and length byte. A packet
 * whose (generation, slot) has a socket goes to that socket. Initial and
 * Retry packets, version negotiation and unknown versions start new
 * connections: they go to a worker of the current (newest) generation,
 * picked by the kernel's 4-tuple hash, so a draining process gets no new
 * connections. Everything else (a CID of another length, a (generation,
 * slot) without a socket, truncated datagrams, no current generation)
 * returns SK_PASS without selecting, and the kernel's hash over the whole
 * group picks the socket: a miss never drops a packet.
 *
 * Like guard.c, no kernel structs are read (only the UAPI sk_reuseport_md),
 * so there are no CO-RE relocations.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* WEIR_QUIC_MAX_SLOTS bounds the worker slots and generations: each is one
 * CID byte.
 */
#define WEIR_QUIC_MAX_SLOTS 256
#define WEIR_QUIC_MAX_GENERATIONS 256

/* weir_quic_fallback is why a datagram was left to the kernel's hash. The
 * counters index is WEIR_QUIC_MAX_SLOTS + reason. Numbers are never reused.
 */
enum weir_quic_fallback {
	WEIR_QUIC_FB_NEW = 0,         /* new connection, no worker of the current generation */
	WEIR_QUIC_FB_FOREIGN_CID = 1, /* CID of another length: not issued by weir */
	WEIR_QUIC_FB_NO_SOCKET = 2,   /* no socket for the CID's (generation, slot) */
	WEIR_QUIC_FB_SHORT = 3,       /* datagram too short to hold a QUIC header */
	WEIR_QUIC_FB_MAX,             /* first unused number; not a reason */
};

/* Load-time constant (rewritten by the loader). */
volatile const __u8 weir_quic_cid_len = 8;

/* weir_quic_current is the generation that takes new connections, and how
 * many workers it has: written by the newest process once its sockets are
 * in weir_quic_sockets (map weir_quic_newest).
 */
struct weir_quic_current {
	__u32 generation;
	__u32 workers; /* 0: none; new connections use the group hash */
};

/* weir_quic_sockets holds every process's worker sockets by
 * generation << 8 | slot (pinned, shared).
 */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, WEIR_QUIC_MAX_GENERATIONS * WEIR_QUIC_MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_quic_sockets SEC(".maps");

/* weir_quic_newest has one entry (pinned, shared). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weir_quic_current);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_quic_newest SEC(".maps");

/* weir_quic_counters (per program, not shared): [0, MAX_SLOTS) datagrams
 * steered to each slot of any generation, then one counter per
 * weir_quic_fallback reason. New connections sent to the current generation
 * count as steered to their slot.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_QUIC_MAX_SLOTS + WEIR_QUIC_FB_MAX);
	__type(key, __u32);
	__type(value, __u64);
} weir_quic_counters SEC(".maps");

#define UDP_HDR_LEN 8
#define QUIC_V1 0x00000001
#define QUIC_V2 0x6b3343cf

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&weir_quic_counters, &idx);

	if (v)
		(*v)++;
}

static __always_inline int fallback(__u32 reason)
{
	count(WEIR_QUIC_MAX_SLOTS + reason);
	return SK_PASS;
}

/* long_header_steerable: 0-RTT and Handshake packets of QUIC v1 and v2 (RFC
 * 9369 permutes the type bits) carry the server's CID; Initial and Retry may
 * carry a CID the client made up.
 */
static __always_inline int long_header_steerable(__u8 first, __u32 version)
{
	__u8 type = (first >> 4) & 3;

	if (version == QUIC_V1)
		return type == 1 || type == 2;
	if (version == QUIC_V2)
		return type == 2 || type == 3;
	return 0;
}

/* select_slot sends the datagram to the socket at generation << 8 | slot. */
static __always_inline int select_slot(struct sk_reuseport_md *md, __u32 generation, __u32 slot)
{
	__u32 key = (generation << 8) | slot;

	if (bpf_sk_select_reuseport(md, &weir_quic_sockets, &key, 0))
		return -1;
	count(slot);
	return 0;
}

/* new_connection sends an Initial (or anything that starts a connection) to
 * a worker of the current generation, chosen by the 4-tuple hash.
 */
static __always_inline int new_connection(struct sk_reuseport_md *md)
{
	__u32 zero = 0;
	struct weir_quic_current *cur = bpf_map_lookup_elem(&weir_quic_newest, &zero);

	if (!cur || cur->workers == 0 || cur->workers > WEIR_QUIC_MAX_SLOTS ||
	    cur->generation >= WEIR_QUIC_MAX_GENERATIONS)
		return fallback(WEIR_QUIC_FB_NEW);
	if (select_slot(md, cur->generation, md->hash % cur->workers))
		return fallback(WEIR_QUIC_FB_NEW);
	return SK_PASS;
}

SEC("sk_reuseport")
int weir_quic_steer(struct sk_reuseport_md *md)
{
	/* b holds the first bytes of the QUIC payload: enough for a long
	 * header up to the first two DCID bytes (1 + 4 + 1 + 2).
	 */
	__u8 b[8];
	__u32 cid_at, len = md->len;
	__u8 cid_len = weir_quic_cid_len;

	if (len < UDP_HDR_LEN + sizeof(b) || bpf_skb_load_bytes(md, UDP_HDR_LEN, b, sizeof(b)))
		return fallback(WEIR_QUIC_FB_SHORT);
	len -= UDP_HDR_LEN;

	if (b[0] & 0x80) {
		__u32 version = ((__u32)b[1] << 24) | ((__u32)b[2] << 16) | ((__u32)b[3] << 8) | b[4];

		if (!long_header_steerable(b[0], version))
			return new_connection(md);
		if (b[5] != cid_len)
			return fallback(WEIR_QUIC_FB_FOREIGN_CID);
		cid_at = 6;
	} else {
		cid_at = 1;
	}
	if (len < cid_at + cid_len)
		return fallback(WEIR_QUIC_FB_SHORT);
	if (select_slot(md, b[cid_at], b[cid_at + 1]))
		return fallback(WEIR_QUIC_FB_NO_SOCKET);
	return SK_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
