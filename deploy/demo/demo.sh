#!/usr/bin/env bash
# make demo: the kernel guard in a lab of network namespaces on this machine.
#
#   team-a (10.77.1.2) ──veth── gateway (weir, guard on tc ingress) ──veth── team-b (10.77.2.2)
#
# team-a floods the gateway with new TCP connections; team-b keeps sending
# chat requests. Every second the script prints team-b's successes and
# latency next to the kernel's per-tenant drop counters (from weir's
# /metrics), then `weirctl maps`. Everything (namespaces, weir, pins, temp
# files) is removed on exit, also on Ctrl-C or failure.
#
# Needs root, a kernel with eBPF (tcx or cls_bpf), ip(8), nsenter(1), curl and Go.
# Knobs: DEMO_FLOOD_SECONDS (default 10, at most 120), WEIR_BIN / WEIRCTL_BIN
# (use prebuilt binaries instead of building).
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
	echo "demo: needs root (network namespaces and eBPF); try: sudo make demo" >&2
	exit 1
fi
for tool in ip nsenter curl; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is required" >&2; exit 1; }
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLOOD_SECONDS=${DEMO_FLOOD_SECONDS:-10}
if ! [[ $FLOOD_SECONDS =~ ^[0-9]+$ ]] || ((FLOOD_SECONDS < 1 || FLOOD_SECONDS > 120)); then
	echo "demo: DEMO_FLOOD_SECONDS must be 1..120" >&2
	exit 1
fi
ID=$$
NS_GW=weirdemo-gw-$ID
NS_A=weirdemo-a-$ID
NS_B=weirdemo-b-$ID
PINS=/sys/fs/bpf/weir-demo-$ID
WORK=$(mktemp -d /tmp/weir-demo.XXXXXX)
WEIR_PID=
FLOOD_PID=

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e # clean up as much as possible, whatever fails
	[[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
	if [[ -n $WEIR_PID ]]; then
		kill -TERM "$WEIR_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$WEIR_PID" 2>/dev/null || true
		wait "$WEIR_PID" 2>/dev/null || true
	fi
	# Deleting the namespaces deletes the veths and with them the guard's
	# attachments; the pins go with the directory.
	for ns in "$NS_A" "$NS_B" "$NS_GW"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$PINS" "$WORK"
	echo "demo: cleaned up (namespaces, weir, pins under $PINS, $WORK)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building weir, weirctl and the flood tool"
WEIR=${WEIR_BIN:-$WORK/weir}
WEIRCTL=${WEIRCTL_BIN:-$WORK/weirctl}
[[ -n ${WEIR_BIN:-} ]] || (cd "$REPO" && go build -o "$WEIR" ./cmd/weir)
[[ -n ${WEIRCTL_BIN:-} ]] || (cd "$REPO" && go build -o "$WEIRCTL" ./cmd/weirctl)
(cd "$REPO" && go build -o "$WORK/flood" ./deploy/demo/flood)

if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	mount -t bpf bpf /sys/fs/bpf
fi

say "lab: namespaces $NS_A, $NS_B, $NS_GW"
for ns in "$NS_GW" "$NS_A" "$NS_B"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$NS_GW" link add gw-a type veth peer name eth0 netns "$NS_A"
ip -n "$NS_GW" link add gw-b type veth peer name eth0 netns "$NS_B"
ip -n "$NS_GW" addr add 10.77.1.1/24 dev gw-a
ip -n "$NS_GW" addr add 10.77.2.1/24 dev gw-b
ip -n "$NS_A" addr add 10.77.1.2/24 dev eth0
ip -n "$NS_B" addr add 10.77.2.2/24 dev eth0
for l in gw-a gw-b; do ip -n "$NS_GW" link set "$l" up; done
ip -n "$NS_A" link set eth0 up
ip -n "$NS_B" link set eth0 up

cat >"$WORK/weir.yaml" <<'YAML'
version: 1
listeners: [{name: public, address: "0.0.0.0:8080"}]
admin: {address: "127.0.0.1:9901"}
log: {level: info, access: "off"}
providers: [{name: offline, type: offline}]
models: [{name: "*", targets: [{provider: offline, model: weir-offline}]}]
tenants:
  - name: team-a
    keys: [{env: DEMO_TEAM_A_KEY}]
    sources: ["10.77.1.0/24"]
    kernel: {connections_per_second: 20, source_connections_per_second: 30}
  - name: team-b
    keys: [{env: DEMO_TEAM_B_KEY}]
    sources: ["10.77.2.0/24"]
    kernel: {connections_per_second: 200}
dataplane:
  mode: "on"
  guard: {hook: tc, interfaces: [gw-a, gw-b]}
YAML

say "starting weir in $NS_GW (guard on gw-a and gw-b, pins under $PINS)"
# nsenter --net, not ip netns exec: the latter also gives weir a private
# /sys, so its pins would not be visible to weirctl here.
env WEIR_DATAPLANE_ROOT="$PINS" DEMO_TEAM_A_KEY=demo-key-a DEMO_TEAM_B_KEY=demo-key-b \
	nsenter --net="/var/run/netns/$NS_GW" "$WEIR" -config "$WORK/weir.yaml" >"$WORK/weir.log" 2>&1 &
WEIR_PID=$!
metrics() { ip netns exec "$NS_GW" curl -sf -m 2 http://127.0.0.1:9901/metrics; }
for _ in $(seq 1 100); do
	ip netns exec "$NS_GW" curl -sf -m 1 -o /dev/null http://127.0.0.1:9901/readyz && break
	kill -0 "$WEIR_PID" 2>/dev/null || { echo "demo: weir exited:" >&2; cat "$WORK/weir.log" >&2; exit 1; }
	sleep 0.1
done
if ! metrics | grep -q '^weir_dataplane_feature{feature="guard"} 1'; then
	echo "demo: weir is serving but the kernel guard is not running (is startDataplane wired into the agent?)" >&2
	tail -20 "$WORK/weir.log" >&2
	exit 1
fi
grep -h 'guard' "$WORK/weir.log" | head -4 || true

# counter TENANT VERDICT: weir_dataplane_packets_total from /metrics.
counter() {
	metrics | awk -v t="$1" -v v="$2" '
		$1 == "weir_dataplane_packets_total{tenant=\"" t "\",verdict=\"" v "\"}" { print $2; found=1 }
		END { if (!found) print 0 }'
}

# victim_round: 5 chat requests from team-b, prints "ok/5 p50ms maxms".
victim_round() {
	local ok=0 times=()
	for _ in 1 2 3 4 5; do
		local out
		out=$(ip netns exec "$NS_B" curl -s -m 2 -o /dev/null -w '%{http_code} %{time_total}' \
			-H 'Authorization: Bearer demo-key-b' -H 'Content-Type: application/json' \
			-d '{"model":"weir-test","messages":[{"role":"user","content":"hello"}]}' \
			http://10.77.2.1:8080/v1/chat/completions || true)
		if [[ ${out%% *} == 200 ]]; then
			ok=$((ok + 1))
			times+=("${out##* }")
		fi
	done
	local stats="-"
	if ((${#times[@]} > 0)); then
		stats=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "p50 %.1fms max %.1fms", a[int((NR+1)/2)]*1000, a[NR]*1000}')
	fi
	echo "$ok/5 ok, $stats"
}

report() {
	printf '  t=%2ss  team-b: %-28s | kernel: team-a dropped %s (over_conn_rate) + %s (over_source_rate), team-b passed %s\n' \
		"$1" "$(victim_round)" "$(counter team-a over_conn_rate)" "$(counter team-a over_source_rate)" "$(counter team-b pass)"
}

say "baseline: no flood"
for s in 1 2; do report "$s"; sleep 1; done

say "team-a floods new connections for ${FLOOD_SECONDS}s (64 dialers; team-a may open 20 conn/s, 30 per source)"
ip netns exec "$NS_A" "$WORK/flood" -target 10.77.1.1:8080 -duration "${FLOOD_SECONDS}s" >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
for s in $(seq 1 "$FLOOD_SECONDS"); do
	sleep 1
	report "$s"
	printf '           %s\n' "$(tail -n 1 "$WORK/flood.log")"
done
wait "$FLOOD_PID" || true
FLOOD_PID=
grep -v "^flood: " "$WORK/flood.log" || true

say "weirctl maps -root $PINS (read from the pins)"
"$WEIRCTL" maps -root "$PINS"

say "done"
