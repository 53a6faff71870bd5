/* maps.h defines the guard's maps (BTF-style, so bpftool prints named fields).
 * Every map is pinned by name under the agent's pin root (default
 * /sys/fs/bpf/weir/<name>), which is how limits, bucket levels and counters
 * survive an agent restart. Key and value layouts live in weir.h.
 */
#ifndef WEIR_MAPS_H
#define WEIR_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "weir.h"

/* weir_tenants: tenant id -> name and limits (id 0 is the default class). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct weir_tenant);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_tenants SEC(".maps");

/* weir_classify: (dport, source CIDR) -> tenant id. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_MAX_CLASSIFY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_class_key);
	__type(value, struct weir_class);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_classify SEC(".maps");

/* weir_deny: source CIDRs dropped outright, whatever their tenant. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_MAX_DENY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_deny_key);
	__type(value, struct weir_deny);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_deny SEC(".maps");

/* weir_port_rules: (dport, L4 protocol, source CIDR) -> listener-wide rule
 * (drop, or bound new connections per source), compiled by the agent from
 * the plain routes a listener serves.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WEIR_MAX_PORT_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_port_key);
	__type(value, struct weir_port_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_port_rules SEC(".maps");

/* weir_port_src_conns: (dport, L4 protocol, source address) -> new-connection
 * limiter of WEIR_PORT_LIMIT rules. An LRU like weir_src_conns, sized with it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_MAX_SOURCES);
	__type(key, struct weir_port_src_key);
	__type(value, struct weir_src_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_port_src_conns SEC(".maps");

/* weir_buckets: tenant id -> shared packets/s and conns/s limiter state. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct weir_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_buckets SEC(".maps");

/* weir_src_conns: (tenant, source address) -> new-connection limiter. An LRU
 * so a flood from many addresses evicts the coldest entries instead of
 * failing inserts. The agent may size it at load; a pinned map of another
 * size is incompatible like any other layout change.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_MAX_SOURCES);
	__type(key, struct weir_src_key);
	__type(value, struct weir_src_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_src_conns SEC(".maps");

/* weir_blocked: tenant id -> CLOCK_MONOTONIC deadline written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct weir_block);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_blocked SEC(".maps");

/* weir_counters: (tenant, verdict) -> per-CPU packets and bytes. Allocated
 * on first use: most tenants only ever see a few verdicts.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, WEIR_MAX_TENANTS * 8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_counter_key);
	__type(value, struct weir_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weir_counters SEC(".maps");

#endif /* WEIR_MAPS_H */
