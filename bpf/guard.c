/* guard.c: per-tenant L3/L4 admission, attached at tc ingress (tcx or
 * cls_bpf, default) or XDP (opt-in). Both programs call weir_guard() from
 * lib/guard.h; they only differ in how they reach the packet and what they
 * return. Go bindings: dataplane/internal/guardbpf (make generate).
 *
 * No kernel structs are read (only the UAPI contexts __sk_buff and xdp_md,
 * which the verifier rewrites), so the object needs no CO-RE relocations and
 * loads unchanged on every kernel from the 5.15 baseline up.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/weir.h"
#include "lib/maps.h"
#include "lib/guard.h"

/* weir_cfg_test_clock, set at load time, makes the programs read the clock
 * from weir_test_now_ns instead of bpf_ktime_get_ns(), so tests can step time
 * and check refill deterministically. Production loads leave it 0 and the
 * verifier removes the test branch.
 */
volatile const __u8 weir_cfg_test_clock = 0;
volatile __u64 weir_test_now_ns = 0;

/* WEIR_PULL_LEN is how much of a non-linear skb is made linear before
 * parsing: enough for two VLAN tags, IPv6 with a few extension headers and a
 * TCP header. Ingress skbs almost always have their headers linear already.
 */
#define WEIR_PULL_LEN 256

static __always_inline __u64 weir_now(void)
{
	if (weir_cfg_test_clock)
		return weir_test_now_ns;
	return bpf_ktime_get_ns();
}

SEC("tc")
int weir_guard_tc(struct __sk_buff *skb)
{
	__u32 linear = skb->data_end - skb->data;

	if (linear < WEIR_PULL_LEN && skb->len > linear)
		bpf_skb_pull_data(skb, skb->len < WEIR_PULL_LEN ? skb->len : WEIR_PULL_LEN);

	/* TC_ACT_UNSPEC (TCX_NEXT) lets the programs behind ours run. */
	if (weir_guard((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, weir_now()))
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int weir_guard_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (weir_guard(data, data_end, data_end - data, weir_now()))
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
