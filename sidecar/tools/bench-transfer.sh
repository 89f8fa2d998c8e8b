#!/bin/bash
# bench-transfer.sh (make bench-transfer): chunked state transfer at size
# (docs/transfer.md).
#
# Four replicas (zyzzyva-cluster --postgres).  Replica 3 is stopped, then
# the others fill a replicated table with BENCH_MB megabytes of rows
# (default 2048; rows of about 1 KB, through a replicated function, 20 MB a
# call) and go on past a few checkpoints, so that replica 3's log is
# truncated everywhere.  (The sidecars check their digest against the rows
# every BENCH_VERIFY_INTERVAL, default 3600s here: at the sidecar's default
# of 60 s a replica of a few GB reads all its rows nearly all the time,
# which would measure that instead.)  The servers are then let settle (CHECKPOINT, no
# autovacuum worker running, 5 s idle) and three windows of 4 s of small
# calls through replica 0 give the p99 without a transfer (the median of
# the three, against a burst of other work on a shared machine).  Replica 3 is
# started again: it resumes at its stable checkpoint and fetches the rest
# by state transfer, in chunks of BENCH_CHUNK bytes (default 1 MiB), from
# a signer, while a closed loop of small calls (zyzzyva-bench,
# BENCH_CLIENTS clients, in windows of 4 s) runs through replica 0, until
# the install is done (the "chunked state transfer ... done" line of
# replica 3's log; a window cut short then is not counted).  It prints the
# transfer's time and rate, the serving replica's p99 call latency without
# and during the transfer, the peak resident memory (VmHWM) of both
# sidecars, and whether replica 3 got back to normal mode within
# BENCH_CATCHUP_S seconds (default 300) of the install: under the load the
# others may have truncated their logs past the installed checkpoint, and
# the replica then transfers again (now without load).  The last line:
#
#   bench-transfer: db_mb=M rows=R chunks=C manifest_s=F transfer_s=S mb_per_s=X p99_ms_before=A
#     p99_ms_during=B p99_ms_during_median=D serving_rss_mb=P installing_rss_mb=Q
#     caught_up_s=T|caught_up=no transfers=N
#
# (manifest_s: from replica 3's first request to the install's start, the
# serving replica reading the rows; transfer_s and mb_per_s: the install,
# from the manifest to the commit, and the rows' text; p99_ms_during: the highest p99 of the windows that
# ran during the manifest and the install; transfers: the chunked installs
# replica 3 made up to the end.)  Needs about five times BENCH_MB of free
# disk under BENCH_TRANSFER_DIR (default /tmp/zyzzyva-bench-transfer);
# everything is removed at the end unless BENCH_TRANSFER_KEEP=1, and every
# process it started is stopped, also on failure.  BENCH_TRANSFER_LOCK=FILE
# holds FILE (flock) while the extension is installed and the servers
# start (replica 3's too).  Run as root (servers run as the postgres user)
# or as postgres.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ZZ_BUILD=${ZZ_BUILD:-$here/../../build}
DIR=${BENCH_TRANSFER_DIR:-/tmp/zyzzyva-bench-transfer}
MB=${BENCH_MB:-2048}
CHUNK=${BENCH_CHUNK:-1048576}
CLIENTS=${BENCH_CLIENTS:-2}
KEEP=${BENCH_TRANSFER_KEEP:-0}
CATCHUP=${BENCH_CATCHUP_S:-300}
VERIFY=${BENCH_VERIFY_INTERVAL:-3600s}
CLUSTER=$here/zyzzyva-cluster
PG_BINDIR=$(pg_config --bindir)
PER_CALL_MB=20

BENCH_NAME=bench-transfer
# shellcheck source=bench-common.sh
. "$here/bench-common.sh"
fresh_dir $((MB * 5 + 1024))

bench_pid=""
start_pid=""
cleanup() {
	local rc=$?
	# (each may be gone already: a failed kill must not end the cleanup)
	[ -z "$bench_pid" ] || kill "$bench_pid" 2>/dev/null || true
	[ -z "$start_pid" ] || kill "$start_pid" 2>/dev/null || true
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
sql_at() {
	local i=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' "${as_pg[@]}" "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$DIR/run" -p "$(port "$i")" -d zyzzyva "$@"
}
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# p99 of one window of small calls through replica 0
window() {
	"$ZZ_BUILD/zyzzyva-bench" --socket "$DIR/run/replica-0.sock" --clients "$CLIENTS" \
		--call 'public.tick(integer)' --args 1 --args 2 --duration "$1" --warmup 1 2>/dev/null |
		sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p'
}

if [ -n "${BENCH_TRANSFER_LOCK:-}" ]; then
	exec 9>"$BENCH_TRANSFER_LOCK"
	flock 9
	make -C "$here/../.." extension-install >/dev/null
fi
say "four replicas (PostgreSQL + zyzzyvad each) in $DIR, chunks of $CHUNK bytes, verify_interval $VERIFY"
"$CLUSTER" start "$DIR" --postgres --entrust postgres --set log_level=info \
	--set checkpoint_interval=16 --set "transfer_chunk=$CHUNK" --set "verify_interval=$VERIFY" \
	>"$DIR/start.log" 2>&1 ||
	{ cat "$DIR/start.log" >&2; die "the cluster did not start"; }
[ -n "${BENCH_TRANSFER_LOCK:-}" ] && flock -u 9
for i in 0 1 2 3; do
	sql_at "$i" >/dev/null <<'EOF'
CREATE TABLE big (id bigint PRIMARY KEY, pad text NOT NULL);
CREATE FUNCTION fill(first bigint, cnt integer) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(first, first + cnt - 1) AS g;
    SELECT cnt $$;
CREATE TABLE counter (id integer PRIMARY KEY, n bigint NOT NULL);
CREATE FUNCTION tick(i integer) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO counter VALUES (i, 1) ON CONFLICT (id) DO UPDATE SET n = counter.n + 1 RETURNING n $$;
SELECT zyzzyva.replicate_table('big'), zyzzyva.replicate_table('counter');
SELECT zyzzyva.replicate_function('fill(bigint,integer)'), zyzzyva.replicate_function('tick(integer)');
EOF
done
sql_at 0 -c "SELECT public.tick(1)" >/dev/null

say "replica 3 stopped; $MB MB of rows through the others"
"$CLUSTER" stop "$DIR" 3 >/dev/null
rows_per_call=$((PER_CALL_MB * 1024))	# rows of about 1 KB
calls=$(((MB + PER_CALL_MB - 1) / PER_CALL_MB))
t0=$(now)
for ((k = 0; k < calls; k++)); do
	sql_at $((k % 3)) -c "SELECT public.fill($((1 + k * rows_per_call)), $rows_per_call)" >/dev/null
	[ $((k % 10)) = 9 ] && echo "  $((k + 1)) of $calls calls ($(secs "$t0" "$(now)") s)"
done
for ((k = 0; k < 40; k++)); do sql_at 1 -c "SELECT public.tick(2)" >/dev/null; done
db_mb=$(sql_at 0 -c "SELECT pg_database_size(current_database()) / 1048576")
rows=$(sql_at 0 -c "SELECT count(*) FROM big")
echo "loaded in $(secs "$t0" "$(now)") s: database $db_mb MB, $rows rows in big"

say "the servers settle: CHECKPOINT, no autovacuum worker left (at most 300 s), then 5 s idle"
settle_t0=$(now)
for i in 0 1 2; do sql_at "$i" -c "CHECKPOINT" >/dev/null; done
for ((k = 0; k < 600; k++)); do
	busy=0
	for i in 0 1 2; do
		n=$(sql_at "$i" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
		busy=$((busy + n))
	done
	[ "$busy" = 0 ] && break
	sleep 0.5
done
for i in 0 1 2; do sql_at "$i" -c "CHECKPOINT" >/dev/null; done
sleep 5
echo "settled in $(secs "$settle_t0" "$(now)") s (autovacuum workers at the end: $busy)"

say "p99 of calls through replica 0 without a transfer (three windows of 4 s, the median)"
before=$(for k in 1 2 3; do window 4; done)
p99_before=$(sort -n <<<"$before" | sed -n 2p)
echo "windows of p99 ms: $(tr '\n' ' ' <<<"$before")"

say "replica 3 started: it fetches the checkpoint in chunks while calls go on"
log3=$DIR/replica-3.log
: >"$DIR/windows"
# windows of calls until the install is done; a window still running then
# is cut short and not counted, so every window counted ran within the
# transfer
if [ -n "${BENCH_TRANSFER_LOCK:-}" ]; then
	# replica 3's server loads the extension when it starts: ours
	flock 9
	make -C "$here/../.." extension-install >/dev/null
fi
( while [ ! -e "$DIR/transfer-done" ]; do window 4 >>"$DIR/windows"; done ) &
bench_pid=$!
t0=$(now)
"$CLUSTER" start "$DIR" 3 --timeout 7200 >"$DIR/start3.log" 2>&1 &
start_pid=$!
if [ -n "${BENCH_TRANSFER_LOCK:-}" ]; then
	for ((k = 0; k < 1200; k++)); do
		[ -s "$DIR/pg-3/postmaster.pid" ] && "${as_pg[@]}" "$PG_BINDIR/pg_isready" -q -h "$DIR/run" -p "$(port 3)" && break
		sleep 0.1
	done
	flock -u 9
fi
done_re='chunked state transfer of checkpoint .* from replica .* done'
while ! grep -aq "$done_re" "$log3" 2>/dev/null; do
	kill -0 "$start_pid" 2>/dev/null || { cat "$DIR/start3.log" >&2; die "replica 3 did not install in chunks; see $log3"; }
	sleep 0.2
done
t1=$(now)
touch "$DIR/transfer-done"
pkill -P "$bench_pid" 2>/dev/null || true	# the window running now
kill "$bench_pid" 2>/dev/null || true
wait "$bench_pid" 2>/dev/null || true
bench_pid=""
done_line=$(grep -a "$done_re" "$log3" | head -1)
echo "$done_line"
server=$(sed -n 's/.* from replica \([0-9]*\) done.*/\1/p' <<<"$done_line")
chunks=$(sed -n 's/.*done: \([0-9]*\) of.*/\1/p' <<<"$done_line")
bytes=$(sed -n 's/.* \([0-9]*\) of [0-9]* bytes in .*/\1/p' <<<"$done_line")
xfer_s=$(sed -n 's/.* bytes in \([0-9.]*\) s.*/\1/p' <<<"$done_line")
rate=$(awk -v b="$bytes" -v s="$xfer_s" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }')
# the manifest: from replica 3's first fetch to the install's start
log_ts() { date -d "$(cut -c1-23 <<<"$1")" +%s.%N; }
fetch_line=$(grep -a 'condition: state_transfer: fetching checkpoint' "$log3" | head -1)
inst_line=$(grep -a 'postgres: installing checkpoint .* in [0-9]* chunks' "$log3" | head -1)
manifest_s=$(secs "$(log_ts "$fetch_line")" "$(log_ts "$inst_line")")
p99_during=$(sort -n "$DIR/windows" | tail -1)
p99_during_median=$(sort -n "$DIR/windows" | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "") }')
echo "windows of p99 ms during the transfer: $(tr '\n' ' ' <"$DIR/windows")"
echo "replica 3 installed after $(secs "$t0" "$t1") s from its start (manifest and install; transfer from replica $server)"

# back to normal mode: bounded, since the others may have truncated their
# logs past the installed checkpoint meanwhile (the replica then transfers
# again, now without load)
say "replica 3 catching up (at most $CATCHUP s)"
caught="caught_up=no"
deadline=$((SECONDS + CATCHUP))
while [ $SECONDS -lt $deadline ]; do
	if ! kill -0 "$start_pid" 2>/dev/null; then
		wait "$start_pid" && caught="caught_up_s=$(secs "$t1" "$(now)")"
		start_pid=""
		break
	fi
	sleep 0.2
done
if [ -n "$start_pid" ]; then
	kill "$start_pid" 2>/dev/null || true
	wait "$start_pid" 2>/dev/null || true
	start_pid=""
fi
transfers=$(grep -ac "$done_re" "$log3" || true)
echo "$caught (after the first install; chunked installs made: $transfers)"
serving_rss=$(hwm_mb "$(cat "$DIR/replica-$server.pid")")
installing_rss=$(hwm_mb "$(cat "$DIR/replica-3.pid")")
digests=$(for i in 0 1 2 3; do sql_at "$i" -c "SELECT encode(zyzzyva.state_digest(), 'hex')"; done | sort -u | wc -l)
[ "$digests" = 1 ] || echo "note: the state digests differ right now (calls in flight)" >&2

echo "bench-transfer: db_mb=$db_mb rows=$rows chunks=$chunks manifest_s=$manifest_s transfer_s=$xfer_s mb_per_s=$rate" \
	"p99_ms_before=$p99_before p99_ms_during=$p99_during p99_ms_during_median=$p99_during_median" \
	"serving_rss_mb=$serving_rss" \
	"installing_rss_mb=$installing_rss $caught transfers=$transfers"
