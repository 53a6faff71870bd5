/* gcra.h is the guard's rate limiter: a token bucket written as the Generic
 * Cell Rate Algorithm. The state is one u64, the "theoretical arrival time"
 * (tat): the time at which the bucket would be full again. An event conforms
 * when tat - now <= tolerance, and then pushes tat by one emission interval.
 *
 * Concurrency: the state is shared by all CPUs and updated with a bounded
 * compare-and-swap loop (BPF_CMPXCHG, Linux >= 5.12, -mcpu=v3), so the limit
 * is exact across CPUs without a spin lock and refill needs no timer: it is
 * implicit in the clock. Per-CPU buckets were rejected because a limit of N/s
 * would become N/s per CPU. When the CAS loses WEIR_GCRA_TRIES times in a row
 * the event is treated as over the limit: that only happens under heavy
 * contention on the same bucket, i.e. while the tenant is flooding.
 */
#ifndef WEIR_GCRA_H
#define WEIR_GCRA_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "weir.h"

#define WEIR_NSEC_PER_SEC 1000000000ULL
#define WEIR_GCRA_TRIES 4
/* WEIR_MAX_BURST keeps interval * burst far below 2^64. */
#define WEIR_MAX_BURST 0xffffffffULL

/* weir_gcra_params turns a rate into an emission interval and a tolerance,
 * both in ns. It returns 0 for an unlimited rate.
 */
static __always_inline int weir_gcra_params(const struct weir_rate *rate, __u64 *interval, __u64 *tolerance)
{
	__u64 per_sec = rate->per_sec, burst = rate->burst;

	if (per_sec == 0)
		return 0;
	*interval = per_sec >= WEIR_NSEC_PER_SEC ? 1 : WEIR_NSEC_PER_SEC / per_sec;
	if (burst == 0)
		burst = 1;
	if (burst > WEIR_MAX_BURST)
		burst = WEIR_MAX_BURST;
	*tolerance = *interval * (burst - 1);
	return 1;
}

/* weir_gcra_take consumes one event from the bucket whose state is *tat and
 * reports whether it conformed (1) or is over the limit (0).
 */
static __always_inline int weir_gcra_take(__u64 *tat, const struct weir_rate *rate, __u64 now)
{
	__u64 interval, tolerance, old, base, seen;
	int i;

	if (!weir_gcra_params(rate, &interval, &tolerance))
		return 1;

	old = *(volatile __u64 *)tat;
#pragma unroll
	for (i = 0; i < WEIR_GCRA_TRIES; i++) {
		base = old > now ? old : now;
		if (base - now > tolerance)
			return 0;
		seen = __sync_val_compare_and_swap(tat, old, base + interval);
		if (seen == old)
			return 1;
		old = seen;
	}
	return 0;
}

#endif /* WEIR_GCRA_H */
