/* guard.h is the per-packet admission logic shared by the tc and XDP
 * programs: parse, classify by source (and destination port), then deny list,
 * the listener port's source rule, blocked-until, the tenant's packets/s
 * bucket and, for a new connection, the per-source and the tenant's
 * connections/s buckets. The first check that
 * fails is the verdict; every verdict is counted per tenant.
 */
#ifndef WEIR_GUARD_H
#define WEIR_GUARD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "weir.h"
#include "maps.h"
#include "parse.h"
#include "gcra.h"

/* weir_verdict_drops reports whether a verdict drops the packet. Listed
 * explicitly so a new reason has to be decided here.
 */
static __always_inline int weir_verdict_drops(enum weir_verdict v)
{
	switch (v) {
	case WEIR_OVER_PACKET_RATE:
	case WEIR_OVER_CONN_RATE:
	case WEIR_OVER_SOURCE_RATE:
	case WEIR_DENIED:
	case WEIR_BLOCKED:
	case WEIR_MALFORMED:
	case WEIR_PORT_DENIED:
	case WEIR_OVER_PORT_SOURCE_RATE:
		return 1;
	default:
		return 0;
	}
}

static __always_inline __u32 weir_classify_pkt(const struct weir_pkt *pkt)
{
	struct weir_class_key key = {};
	struct weir_class *cls;

	key.family = pkt->family;
	key.prefixlen = 32 + (pkt->family == WEIR_FAMILY_V4 ? 32 : 128);
	__builtin_memcpy(key.addr, pkt->saddr, sizeof(key.addr));
	/* Port-specific entries first; port 0 entries match any port. */
	if (pkt->has_l4 && pkt->dport) {
		key.dport = pkt->dport;
		cls = bpf_map_lookup_elem(&weir_classify, &key);
		if (cls)
			return cls->tenant;
		key.dport = 0;
	}
	cls = bpf_map_lookup_elem(&weir_classify, &key);
	return cls ? cls->tenant : WEIR_DEFAULT_TENANT;
}

static __always_inline int weir_denied(const struct weir_pkt *pkt)
{
	struct weir_deny_key key = {};

	key.family = pkt->family;
	key.prefixlen = 32 + (pkt->family == WEIR_FAMILY_V4 ? 32 : 128);
	__builtin_memcpy(key.addr, pkt->saddr, sizeof(key.addr));
	return bpf_map_lookup_elem(&weir_deny, &key) != NULL;
}

/* weir_lookup_or_init returns the map's value for key, inserting a zeroed
 * value first when it is missing (another CPU may win the insert; then its
 * entry is used).
 */
static __always_inline void *weir_lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline int weir_source_conforms(__u32 tenant, const struct weir_pkt *pkt,
						const struct weir_rate *rate, __u64 now)
{
	struct weir_src_key key = {};
	struct weir_src_bucket zero = {}, *b;

	key.tenant = tenant;
	key.family = pkt->family;
	__builtin_memcpy(key.addr, pkt->saddr, sizeof(key.addr));
	b = weir_lookup_or_init(&weir_src_conns, &key, &zero);
	if (!b)
		return 1; /* cannot track: the tenant bucket still applies */
	return weir_gcra_take(&b->tat, rate, now);
}

/* weir_port_verdict applies the listener-wide rule of the packet's
 * destination port and source, if any: WEIR_PORT_DENIED, or for a new
 * connection over its source's bound WEIR_OVER_PORT_SOURCE_RATE, else
 * WEIR_PASS. Packets without a port (non-first fragments, ICMP) pass: they
 * cannot open a connection.
 */
static __always_inline enum weir_verdict weir_port_verdict(const struct weir_pkt *pkt, __u64 now)
{
	struct weir_port_key key = {};
	struct weir_port_src_key skey = {};
	struct weir_src_bucket zero = {}, *b;
	struct weir_port_rule *rule;

	if (!pkt->has_l4 || !pkt->dport)
		return WEIR_PASS;
	key.prefixlen = 32 + (pkt->family == WEIR_FAMILY_V4 ? 32 : 128);
	key.dport = pkt->dport;
	key.proto = pkt->l4proto;
	key.family = pkt->family;
	__builtin_memcpy(key.addr, pkt->saddr, sizeof(key.addr));
	rule = bpf_map_lookup_elem(&weir_port_rules, &key);
	if (!rule)
		return WEIR_PASS;
	if (rule->action == WEIR_PORT_DROP)
		return WEIR_PORT_DENIED;
	if (rule->action != WEIR_PORT_LIMIT || !pkt->new_conn || !rule->src_conns.per_sec)
		return WEIR_PASS;
	skey.dport = pkt->dport;
	skey.proto = pkt->l4proto;
	skey.family = pkt->family;
	__builtin_memcpy(skey.addr, pkt->saddr, sizeof(skey.addr));
	b = weir_lookup_or_init(&weir_port_src_conns, &skey, &zero);
	if (!b)
		return WEIR_PASS; /* cannot track: Go still limits the requests */
	return weir_gcra_take(&b->tat, &rule->src_conns, now) ? WEIR_PASS : WEIR_OVER_PORT_SOURCE_RATE;
}

static __always_inline void weir_count(__u32 tenant, enum weir_verdict v, __u64 len)
{
	struct weir_counter_key key = {};
	struct weir_counter *c;

	key.tenant = tenant;
	key.verdict = v;
	c = bpf_map_lookup_elem(&weir_counters, &key);
	if (!c) {
		struct weir_counter init = { .packets = 1, .bytes = len };

		if (bpf_map_update_elem(&weir_counters, &key, &init, BPF_NOEXIST) == 0)
			return;
		c = bpf_map_lookup_elem(&weir_counters, &key);
		if (!c)
			return; /* map full */
	}
	/* Per-CPU value: no other CPU writes it. */
	c->packets++;
	c->bytes += len;
}

static __always_inline enum weir_verdict weir_decide(void *data, void *data_end, __u64 now, __u32 *tenant_out)
{
	struct weir_pkt pkt = {};
	struct weir_tenant *cfg;
	struct weir_block *blk;
	struct weir_bucket zero = {}, *bucket;
	enum weir_verdict port;
	__u32 tenant;
	int rc;

	*tenant_out = WEIR_DEFAULT_TENANT;
	rc = weir_parse(data, data_end, &pkt);
	if (rc == WEIR_PARSE_NOT_IP)
		return WEIR_PASS_NOT_IP;
	if (pkt.family == 0)
		return WEIR_MALFORMED;

	tenant = weir_classify_pkt(&pkt);
	*tenant_out = tenant;
	if (rc != WEIR_PARSE_OK)
		return WEIR_MALFORMED;
	if (weir_denied(&pkt))
		return WEIR_DENIED;
	/* Before the tenant's buckets: a packet no route would serve must
	 * not spend the tenant's budget.
	 */
	port = weir_port_verdict(&pkt, now);
	if (port != WEIR_PASS)
		return port;

	blk = bpf_map_lookup_elem(&weir_blocked, &tenant);
	if (blk && now < blk->until_ns)
		return WEIR_BLOCKED;

	/* The agent writes a tenant's limits before its classify entries and
	 * removes them after, so a miss here means "no limits configured".
	 */
	cfg = bpf_map_lookup_elem(&weir_tenants, &tenant);
	if (!cfg)
		return WEIR_PASS;
	bucket = weir_lookup_or_init(&weir_buckets, &tenant, &zero);
	if (!bucket)
		return WEIR_PASS;

	if (!weir_gcra_take(&bucket->packets_tat, &cfg->packets, now))
		return WEIR_OVER_PACKET_RATE;
	if (pkt.new_conn) {
		/* Per source first, so one noisy address does not spend the
		 * tenant's connection budget it was refused.
		 */
		if (cfg->src_conns.per_sec && !weir_source_conforms(tenant, &pkt, &cfg->src_conns, now))
			return WEIR_OVER_SOURCE_RATE;
		if (!weir_gcra_take(&bucket->conns_tat, &cfg->conns, now))
			return WEIR_OVER_CONN_RATE;
	}
	return WEIR_PASS;
}

/* weir_guard is the one core function both hooks call: it decides, counts
 * and reports whether the packet must be dropped.
 */
static __always_inline int weir_guard(void *data, void *data_end, __u64 len, __u64 now)
{
	__u32 tenant;
	enum weir_verdict v = weir_decide(data, data_end, now, &tenant);

	weir_count(tenant, v, len);
	return weir_verdict_drops(v);
}

#endif /* WEIR_GUARD_H */
