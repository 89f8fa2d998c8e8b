#!/bin/bash
# bench-apply.sh (make bench-apply): the cost of applying replicated calls
# in one database, without the protocol: bench-pg's TPC-B-like function
# tpcb() run
#
#   plain      unreplicated (database plain): one call per transaction,
#              as pgbench does
#   apply1     zyzzyva.apply_batch of 1 call per transaction (database zz)
#   apply8     zyzzyva.apply_batch of 8 calls per transaction
#   empty      zyzzyva.apply_batch of 0 calls (the fixed cost of a batch)
#
# on one server, one backend at a time, in one run, each as a procedure
# that commits after each transaction, with synchronous_commit off (the
# batches' setting, docs/durability.md) and on.  The batches are encoded
# beforehand (zyzzyva.encode_batch) and read from a table, so what is
# measured is the database's part: decode, authorization,
# subtransaction, the function's body, undo capture, digest, recording
# the batch, commit.  Prints per synchronous_commit setting
#
#   apply synchronous_commit=S: plain_us=... apply1_us=... apply8_us=... empty_batch_us=... ...
#
# With BENCH_APPLY_CALLGRIND=1, also runs batches of 8 calls in a
# single-user backend under valgrind --tool=callgrind and prints the
# inclusive instruction counts of the steps (build/bench-apply.callgrind.*).
#
# Environment: BENCH_APPLY_CALLS (2000), BENCH_APPLY_SCALE (10),
# BENCH_APPLY_CALLGRIND (0).  Runs as root (the server runs as postgres)
# or as postgres.  Needs the extension installed (make extension-install).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
CALLS=${BENCH_APPLY_CALLS:-2000}
SCALE=${BENCH_APPLY_SCALE:-10}
CALLGRIND=${BENCH_APPLY_CALLGRIND:-0}
OUT=$root/build

die() { echo "bench-apply: $*" >&2; exit 1; }
PG_BINDIR=$(pg_config --bindir 2>/dev/null) || die "no pg_config"
[ -f "$(pg_config --pkglibdir)/zyzzyva.so" ] || die "the extension is not installed (make extension-install)"
if [ "$(id -u)" = 0 ]; then
	as_pg() { runuser -u postgres -- "$@"; }
elif [ "$(id -un)" = postgres ]; then
	as_pg() { "$@"; }
else
	die "run as root or as postgres"
fi

W=$(mktemp -d /tmp/zz-benchapply-XXXXXX) || die "mktemp failed"
chmod 755 "$W"
[ "$(id -u)" = 0 ] && chown postgres: "$W"
D=$W/db
started=0
cleanup() {
	local rc=$?
	[ $started = 1 ] && as_pg "$PG_BINDIR/pg_ctl" -D "$D" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$W"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
as_pg "$PG_BINDIR/initdb" -D "$D" -A trust -E UTF8 --locale=C >"$W/initdb.log" 2>&1 || die "initdb failed"
cat >>"$D/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$W'
shared_preload_libraries = 'zyzzyva'
zyzzyva.entrust = '0:postgres'
EOF
as_pg "$PG_BINDIR/pg_ctl" -D "$D" -l "$W/server.log" -w start >/dev/null || die "server did not start"
started=1
psql_() { PGOPTIONS='-c client_min_messages=warning' as_pg "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" "$@"; }

# database zz: the replicated tables and function; database plain: the
# same, unreplicated (writes to replicated tables outside apply_batch are
# refused)
for db in zz plain; do
	psql_ -d postgres -c "CREATE DATABASE $db" >/dev/null || die "createdb failed"
	as_pg "$PG_BINDIR/pgbench" -q -i -s "$SCALE" -h "$W" -p "$PORT" "$db" >"$W/init-$db.log" 2>&1 || die "pgbench -i failed"
	psql_ -d "$db" -f "$here/bench-pg/tpcb.sql" >/dev/null || die "tpcb.sql failed"
done
psql_ -d zz -c "CREATE EXTENSION zyzzyva" -f "$here/bench-pg/replicate.sql" >/dev/null || die "replicate.sql failed"

# The calls, the same in both databases.  Round r (0: synchronous_commit
# off, 1: on) uses calls base + 1 .. base + 3 CALLS, base = 3 r CALLS: the
# first CALLS plain, the next CALLS as batches of 1, the last as batches of 8.
calls_sql="CREATE TABLE bench_calls AS
  SELECT i, 1 + (i * 7919) % (100000 * $SCALE) AS aid, 1 + i % $SCALE AS bid,
         1 + (i * 13) % (10 * $SCALE) AS tid, (i * 31) % 10001 - 5000 AS delta,
         i::bigint AS hid
    FROM generate_series(1, 6 * $CALLS) AS i"
psql_ -d plain -c "$calls_sql" -f "$here/bench-apply/plain.sql" >/dev/null || die "setup of plain failed"
psql_ -d zz -c "$calls_sql" -v calls="$CALLS" -f "$here/bench-apply/zz.sql" >/dev/null || die "encoding the batches failed"
psql_ -d postgres -c CHECKPOINT >/dev/null

# run DB SQL: microseconds the statement took (psql's own timing)
run() {
	psql_ -d "$1" -c "SET synchronous_commit = $SC" -c '\timing on' -c "$2" |
		awk '/^Time: / { t = $2 } END { printf "%.0f\n", t * 1000 }'
}

echo "apply: $CALLS calls per variant, pgbench scale $SCALE, one backend ($(nproc) cores, shared)"
half=$((CALLS / 2))
n8=$((CALLS / 8))
rnd=0
for SC in off on; do
	base=$((3 * rnd * CALLS))
	# plain and apply1 interleaved in two halves, so that a load change hits both
	p1=$(run plain "CALL bench_plain($((base + 1)), $((base + half)))")
	a1=$(run zz "CALL bench_apply('bench_b1', $rnd, 1, $half)")
	p2=$(run plain "CALL bench_plain($((base + half + 1)), $((base + CALLS)))")
	a2=$(run zz "CALL bench_apply('bench_b1', $rnd, $((half + 1)), $CALLS)")
	a8=$(run zz "CALL bench_apply('bench_b8', $rnd, 1, $n8)")
	e=$(run zz "CALL bench_apply('empty', $rnd, 1, $half)")
	awk -v sc=$SC -v n=$CALLS -v p=$((p1 + p2)) -v a1=$((a1 + a2)) -v a8=$a8 -v e=$e -v h=$half -v n8=$((n8 * 8)) \
		'BEGIN { printf "apply synchronous_commit=%s: plain_us=%.1f apply1_us=%.1f apply8_us=%.1f empty_batch_us=%.1f (per call; empty: per batch) apply1/plain=%.2f apply8/plain=%.2f\n",
			sc, p / n, a1 / n, a8 / n8, e / h, a1 / p, (a8 / n8) / (p / n) }'
	rnd=$((rnd + 1))
done

if [ "$CALLGRIND" = 1 ]; then
	command -v valgrind >/dev/null || die "no valgrind"
	nb=$((n8 < 100 ? n8 : 100))
	# round 1's batches of 8 again, after rolling back to before them
	psql_ -d zz -c "SELECT zyzzyva.rollback_to(last_seq - $((n8 + half))) FROM zyzzyva.replica_state WHERE id = 1" >/dev/null ||
		die "rollback failed"
	as_pg "$PG_BINDIR/pg_ctl" -D "$D" -m fast -w stop >/dev/null
	started=0
	cg=$W/callgrind.out
	echo "CALL bench_apply('bench_b8', 1, 1, $nb);" |
		as_pg valgrind --tool=callgrind --callgrind-out-file="$cg" \
			"$PG_BINDIR/postgres" --single -D "$D" -c synchronous_commit=off zz >"$W/single.log" 2>&1 ||
		{ tail -20 "$W/single.log" >&2; die "callgrind run failed"; }
	grep -q ERROR "$W/single.log" && { grep ERROR "$W/single.log" | head -3 >&2; die "the batches failed under callgrind"; }
	mkdir -p "$OUT"
	cp "$cg" "$OUT/bench-apply.callgrind.out"
	callgrind_annotate --inclusive=yes --threshold=100 "$cg" 2>/dev/null >"$OUT/bench-apply.callgrind.txt"
	echo "callgrind: $nb batches of 8 calls, single-user backend, synchronous_commit off; inclusive instructions:"
	for f in zyzzyva_apply_batch execute_request run_call plpgsql_exec_function \
		BeginInternalSubTransaction ReleaseCurrentSubTransaction zyzzyva_capture zz_undo_flush \
		zz_row_text zz_row_hash zz_lthash_of record_batch load_registry zz_entrust_load \
		zz_decode_batch zz_decode_call zz_request_role zz_become_caller read_position zz_enter_mode \
		zz_leave_mode seed_builtin_random zz_forget_unchecked_plans OidInputFunctionCall \
		CommitTransactionCommand CommitTransaction; do
		awk -v f="$f" '{ for (i = 2; i <= NF; i++) if ($i ~ ("[:]" f "$") || $i == f) { gsub(",", "", $1); print $1; exit } }' \
			"$OUT/bench-apply.callgrind.txt" | { read -r ir && printf "  %-30s %14s Ir\n" "$f" "$ir"; }
	done
	echo "(full listing: $OUT/bench-apply.callgrind.txt)"
fi
