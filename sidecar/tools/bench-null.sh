#!/bin/bash
# bench-null.sh: the 0/0 benchmark (protocol.md) on a local
# 4-replica cluster running the null service.  Three configurations, each
# run once, all in one cluster's life so their figures are comparable:
#
#   single       one client, one outstanding request (latency)
#   batch        $BENCH_CLIENTS clients spread over the four replicas' sockets
#   backup_down  the same load after replica 3 (a backup) is killed by its pid
#
# Ends with one line per configuration:
#   config=... requests_per_s=X p50_ms=Y p99_ms=Z fast_path_share=S ...
# and appends the same figures to $BENCH_CSV (default build/bench-null.csv).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${ZZ_BUILD:-$here/../../build}
DURATION=${BENCH_DURATION:-5}
CLIENTS=${BENCH_CLIENTS:-128}
CSV=${BENCH_CSV:-$BIN/bench-null.csv}
# BENCH_LAN_DELAY_US: the replicas talk through zyzzyva-delay-relay with
# this one-way delay (a simulated LAN; the configurations get a suffix)
LAN=${BENCH_LAN_DELAY_US:-0}
sfx=
[ "$LAN" != 0 ] && sfx=_lan${LAN}us
dir=$(mktemp -d /tmp/zz-bench-XXXXXX)

cleanup() {
	ZZ_BUILD=$BIN "$here/zyzzyva-cluster" stop "$dir" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

ZZ_LAN_DELAY_US=$LAN ZZ_BUILD=$BIN "$here/zyzzyva-cluster" start "$dir" --f 1 --service null \
	--set batch_size=64 --set log_level=warning >/dev/null ||
	{ echo "bench-null: cluster did not start" >&2; exit 1; }
all=$(echo "$dir"/run/replica-{0,1,2,3}.sock | tr ' ' ',')
three=$(echo "$dir"/run/replica-{0,1,2}.sock | tr ' ' ',')
out=$(mktemp)

"$BIN/zyzzyva-bench" --config "single$sfx" --socket "$dir/run/replica-1.sock" --observe "$all" \
	--clients 1 --duration "$DURATION" --csv "$CSV" >>"$out" 2>>"$out.err" || { cat "$out" "$out.err"; echo "bench-null: a configuration failed" >&2; exit 1; }
"$BIN/zyzzyva-bench" --config "batch$sfx" --socket "$all" --clients "$CLIENTS" \
	--duration "$DURATION" --csv "$CSV" >>"$out" 2>>"$out.err" || { cat "$out" "$out.err"; echo "bench-null: a configuration failed" >&2; exit 1; }
pid3=$(cat "$dir/replica-3.pid")
kill -KILL "$pid3" 2>/dev/null
"$BIN/zyzzyva-bench" --config "backup_down$sfx" --socket "$three" --observe "$three" \
	--clients "$CLIENTS" --duration "$DURATION" --csv "$CSV" >>"$out" 2>>"$out.err" || { cat "$out" "$out.err"; echo "bench-null: a configuration failed" >&2; exit 1; }
cat "$out"
rm -f "$out" "$out.err"
