/* quic_reuseport.c: steer each QUIC datagram to the SO_REUSEPORT socket
 * (worker) that owns its destination connection ID. Go loader:
 * dataplane/quicsteer (go generate ./dataplane/quicsteer).
 *
 * weir issues server connection IDs of a fixed length (weir_quic_cid_len,
 * at least 2) laid out as
 *
 *     byte 0   generation (one per weir process; an upgrade changes it)
 *     byte 1   worker slot (the index of the socket in weir_quic_sockets)
 *     byte 2.. random
 *
 * Short-header packets carry that CID at offset 1; long-header 0-RTT and
 * Handshake packets carry it after the version and length byte. A packet of
 * this generation whose slot has a socket goes to that socket. Everything
 * else (Initial and Retry packets, version negotiation, unknown versions,
 * CIDs of another generation or length, a slot without a socket, truncated
 * datagrams) returns SK_PASS without selecting, and the kernel's 4-tuple
 * hash picks the socket: a miss never drops a packet.
 *
 * Like guard.c, no kernel structs are read (only the UAPI sk_reuseport_md),
 * so there are no CO-RE relocations.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* WEIR_QUIC_MAX_SLOTS bounds the worker slots: the slot is one CID byte. */
#define WEIR_QUIC_MAX_SLOTS 256

/* weir_quic_fallback is why a datagram was left to the kernel's hash. The
 * counters index is WEIR_QUIC_MAX_SLOTS + reason. Numbers are never reused.
 */
enum weir_quic_fallback {
	WEIR_QUIC_FB_NEW = 0,         /* Initial, Retry, version negotiation, unknown version */
	WEIR_QUIC_FB_FOREIGN_CID = 1, /* CID of another generation or length */
	WEIR_QUIC_FB_NO_SOCKET = 2,   /* our CID, but its slot has no socket (or select failed) */
	WEIR_QUIC_FB_SHORT = 3,       /* datagram too short to hold a QUIC header */
	WEIR_QUIC_FB_MAX,             /* first unused number; not a reason */
};

/* Load-time constants (rewritten by the loader). */
volatile const __u8 weir_quic_generation = 0;
volatile const __u8 weir_quic_cid_len = 8;

/* weir_quic_sockets holds the worker sockets by slot. */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, WEIR_QUIC_MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} weir_quic_sockets SEC(".maps");

/* weir_quic_counters: [0, MAX_SLOTS) datagrams steered to each slot, then one
 * counter per weir_quic_fallback reason.
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
			return fallback(WEIR_QUIC_FB_NEW);
		if (b[5] != cid_len)
			return fallback(WEIR_QUIC_FB_FOREIGN_CID);
		cid_at = 6;
	} else {
		cid_at = 1;
	}
	if (len < cid_at + cid_len)
		return fallback(WEIR_QUIC_FB_SHORT);
	if (b[cid_at] != weir_quic_generation)
		return fallback(WEIR_QUIC_FB_FOREIGN_CID);

	__u32 slot = b[cid_at + 1];

	if (bpf_sk_select_reuseport(md, &weir_quic_sockets, &slot, 0))
		return fallback(WEIR_QUIC_FB_NO_SOCKET);
	count(slot);
	return SK_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
