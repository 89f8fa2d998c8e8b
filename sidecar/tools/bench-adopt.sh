#!/bin/bash
# bench-adopt.sh (make bench-adopt): existing data under replication, at
# size (docs/operations.md, "Existing data").
#
# An existing database of at least 1 GB (pgbench -i at BENCH_ADOPT_SCALE,
# default 70, plus the TPC-B-like function of make bench-pg, on replica 0's
# server, in a database of its own) is put under replication on four
# replicas the documented way:
#   1. pg_dump -Fc of the existing database;
#   2. zyzzyva-cluster adopt: pg_restore into each replica's database and
#      zyzzyva.adopt() of its four tables (with every row) and the function;
#   3. zyzzyva-cluster start: the sidecars start; calls of the function go
#      through the replicas until every replica marks a stable checkpoint;
#      the certified digest is the same on all four.
# It prints the database's size, the time of each phase, and the digest
# rate: the adopted tables' bytes on disk over the seconds adopt() spent
# reading and hashing their rows, per replica and overall.  The last line:
#
#   bench-adopt: database_mb=M rows=R dump_s=S restore_s=S digest_s=S digest_mb_per_s=X certify_s=S total_s=S
#
# (restore_s and digest_s: the mean over the four replicas.)  Needs about
# six times the database's size in free disk under BENCH_ADOPT_DIR
# (default /tmp/zyzzyva-bench-adopt): four copies, the source, the dump.
# BENCH_ADOPT_JOBS sets pg_restore --jobs (2).  Everything is removed at
# the end unless BENCH_ADOPT_KEEP=1, and every process it started is
# stopped, also on failure.  Run as root (servers run as the postgres
# user) or as postgres.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ZZ_BUILD=${ZZ_BUILD:-$here/../../build}
DIR=${BENCH_ADOPT_DIR:-/tmp/zyzzyva-bench-adopt}
SCALE=${BENCH_ADOPT_SCALE:-70}
JOBS=${BENCH_ADOPT_JOBS:-2}
KEEP=${BENCH_ADOPT_KEEP:-0}
CLUSTER=$here/zyzzyva-cluster
PG_BINDIR=$(pg_config --bindir)

BENCH_NAME=bench-adopt
# shellcheck source=bench-common.sh
. "$here/bench-common.sh"
fresh_dir $((SCALE * 15 * 6 + 2048))

cleanup() {
	local rc=$?
	if [ "$KEEP" = 1 ]; then
		echo "kept: $DIR (zyzzyva-cluster stop $DIR; rm -rf $DIR)"
	else
		"$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true
		rm -rf "$DIR"
	fi
	exit $rc
}
trap cleanup EXIT INT TERM

port() { awk -F"'" '/^port = /{ print $2 }' "$DIR/pg-$1/zyzzyva-cluster.conf"; }
psql0() {
	local db=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' "${as_pg[@]}" "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$DIR/run" -p "$(port 0)" -d "$db" "$@"
}
sql_at() {
	local i=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' "${as_pg[@]}" "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$DIR/run" -p "$(port "$i")" -d zyzzyva "$@"
}

t_start=$(now)
# BENCH_ADOPT_LOCK=FILE: on a machine where others install the extension
# into the same PostgreSQL, hold FILE (flock) while installing it and
# starting the four servers with it, not longer.
if [ -n "${BENCH_ADOPT_LOCK:-}" ]; then
	exec 9>"$BENCH_ADOPT_LOCK"
	flock 9
	make -C "$here/../.." extension-install >/dev/null
fi
say "four replicas (PostgreSQL + zyzzyvad each) configured in $DIR, servers started"
"$CLUSTER" init "$DIR" --postgres --set checkpoint_interval=16 --entrust postgres >/dev/null
"$CLUSTER" adopt "$DIR" >/dev/null
[ -n "${BENCH_ADOPT_LOCK:-}" ] && flock -u 9

say "the existing database: pgbench -i -s $SCALE and the tpcb function, on replica 0's server (database shop)"
"${as_pg[@]}" "$PG_BINDIR/createdb" -h "$DIR/run" -p "$(port 0)" shop
"${as_pg[@]}" "$PG_BINDIR/pgbench" -i -q -s "$SCALE" -h "$DIR/run" -p "$(port 0)" shop >"$DIR/pgbench-init.log" 2>&1 ||
	die "pgbench -i failed; see $DIR/pgbench-init.log"
psql0 shop -f "$here/bench-pg/tpcb.sql" >/dev/null
psql0 shop -c "VACUUM ANALYZE" >/dev/null
db_mb=$(psql0 shop -c "SELECT pg_database_size('shop') / 1048576")
rows=$(psql0 shop -c "SELECT (SELECT count(*) FROM pgbench_accounts) + (SELECT count(*) FROM pgbench_tellers)
                             + (SELECT count(*) FROM pgbench_branches) + (SELECT count(*) FROM pgbench_history)")
echo "database shop: $db_mb MB, $rows rows"
[ "$db_mb" -ge 1024 ] || echo "note: below 1 GB (BENCH_ADOPT_SCALE=$SCALE); use 70 or more" >&2

say "1. pg_dump -Fc (uncompressed) of shop"
t0=$(now)
"${as_pg[@]}" "$PG_BINDIR/pg_dump" -Fc -Z0 -h "$DIR/run" -p "$(port 0)" -f "$DIR/shop.dump" shop
t1=$(now)
dump_s=$(secs "$t0" "$t1")
echo "dump: $dump_s s, $(du -m "$DIR/shop.dump" | cut -f1) MB"
"${as_pg[@]}" "$PG_BINDIR/dropdb" -h "$DIR/run" -p "$(port 0)" shop	# (the source; disk)

say "2. zyzzyva-cluster adopt: pg_restore --jobs $JOBS and zyzzyva.adopt() on each replica"
t0=$(now)
"$CLUSTER" adopt "$DIR" "$DIR/shop.dump" --jobs "$JOBS" \
	--table pgbench_accounts --table pgbench_branches --table pgbench_tellers --table pgbench_history \
	--function 'tpcb(integer,integer,integer,integer,bigint)' | tee "$DIR/adopt.out"
t1=$(now)
adopt_s=$(secs "$t0" "$t1")
rm -f "$DIR/shop.dump"
# "replica I: restored in S s" and "replica I: table NAME: R rows, M MB, S s (X MB/s)"
read -r restore_s digest_s rate <<<"$(awk '
	/restored in/ { r += $(NF - 1); nr++ }
	$3 == "table" { mb += $7; s += $9 }
	END { printf "%.1f %.1f %.1f", r / nr, s / nr, (s > 0 ? mb / s : 0) }' "$DIR/adopt.out")"

say "3. zyzzyva-cluster start; tpcb calls until every replica marks a stable checkpoint"
t0=$(now)
"$CLUSTER" start "$DIR" >/dev/null
k=0 certified=""
while [ $k -lt 400 ]; do
	for i in 0 1 2 3; do
		k=$((k + 1))
		sql_at "$i" -c "SELECT public.tpcb($((1 + k * 7919 % (SCALE * 100000))), $((1 + k % SCALE)), $((1 + k % (SCALE * 10))), 1, $k)" >/dev/null
	done
	stable=$(for i in 0 1 2 3; do sql_at "$i" -c "SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), '-') FROM zyzzyva.status"; done | sort -u)
	if [ "$(wc -l <<<"$stable")" = 1 ] && [ "${stable%% *}" != 0 ]; then
		certified=$stable
		break
	fi
done
t1=$(now)
certify_s=$(secs "$t0" "$t1")
[ -n "$certified" ] || die "no common stable checkpoint after $k calls; see $DIR/replica-*.log"
echo "stable checkpoint ${certified%% *} on all four replicas after $k calls, certified digest ${certified#* }"
digests=$(for i in 0 1 2 3; do sql_at "$i" -c "SELECT encode(zyzzyva.state_digest(), 'hex')"; done | sort -u | wc -l)
[ "$digests" = 1 ] || die "the four state digests differ"

total_s=$(secs "$t_start" "$(now)")
echo "bench-adopt: database_mb=$db_mb rows=$rows dump_s=$dump_s restore_s=$restore_s digest_s=$digest_s" \
	"digest_mb_per_s=$rate certify_s=$certify_s total_s=$total_s"
