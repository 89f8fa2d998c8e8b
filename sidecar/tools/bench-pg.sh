#!/bin/bash
# bench-pg.sh (make bench-pg): a TPC-B-like replicated function driven by
# pgbench through three systems on this machine, measured side by side in
# one run:
#
#   zyzzyva       4 replicas (f = 1): 4 PostgreSQL servers + 4 sidecars
#                 (zyzzyva-cluster --postgres); pgbench's clients spread
#                 round-robin over the 4 replicas' servers
#   unreplicated  one PostgreSQL server
#   syncrep       a primary with 3 streaming standbys,
#                 synchronous_commit = remote_apply,
#                 synchronous_standby_names = 'ANY 2 (s1,s2,s3)'
#
# The same function (bench-pg/tpcb.sql: pgbench's three UPDATEs and one
# INSERT) on the same pgbench data (scale $BENCH_PG_SCALE), default server
# settings (fsync on) everywhere, clients as the postgres user over Unix
# sockets.  For each client count the three systems run one after another
# for $BENCH_PG_SECONDS each, so a load change on the machine hits all
# three alike.  Ends with one line per client count:
#
#   clients=C zyzzyva_tps=X unreplicated_tps=Y syncrep_tps=Z zyzzyva_ms=... unreplicated_ms=... syncrep_ms=...
#
# (tps: calls per second summed over the clients; ms: mean call latency as
# pgbench measures it), writes the figures to build/bench-pg.dat, draws
# throughput against latency into build/bench-pg.png (gnuplot) and copies
# it to docs/bench-pg.png (when all three systems ran).
#
# Environment: BENCH_PG_SECONDS (15), BENCH_PG_CLIENTS ("1 8 32"),
# BENCH_PG_SCALE (10), BENCH_PG_SYSTEMS ("zyzzyva unreplicated syncrep"),
# BENCH_PG_ZZ_SET (extra zyzzyvad settings, "KEY=VALUE ..."),
# BENCH_PG_ZZ_A_SET and BENCH_PG_ZZ_B_SET (settings of the first cluster
# only, and of a second cluster measured after it; see below),
# BENCH_PG_ZZ_PG_SET (extra postgresql.conf settings of the zyzzyva
# replicas' servers, "NAME=VALUE ..."),
# BENCH_PG_ZZ_CLIENTS_ON (spread | a replica number: put every client on
# that replica's server), BENCH_PG_KEEP=1 (leave everything running and
# print how to stop it), ZZ_BUILD (the sidecar binaries, build/).
#
# Runs as root (installs gnuplot-nox if missing; servers run as postgres)
# or as the postgres user.  Everything it starts is stopped by pid (the
# sidecars) or pg_ctl on its own data directories, also on failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${ZZ_BUILD:-$root/build}
SECONDS_PER_POINT=${BENCH_PG_SECONDS:-15}
CLIENT_COUNTS=${BENCH_PG_CLIENTS:-1 8 32}
SCALE=${BENCH_PG_SCALE:-10}
SYSTEMS=${BENCH_PG_SYSTEMS:-zyzzyva unreplicated syncrep}
ZZ_SET=${BENCH_PG_ZZ_SET:-}
ZZ_PG_SET=${BENCH_PG_ZZ_PG_SET:-}
ZZ_CLIENTS_ON=${BENCH_PG_ZZ_CLIENTS_ON:-spread}
# a second zyzzyva cluster, measured right after the first in the same run,
# with these settings added (e.g. "batch_commit=sync"): empty, none
ZZ_B_SET=${BENCH_PG_ZZ_B_SET-batch_commit=sync}
# ... and settings of the first zyzzyva cluster only (e.g. "exec_window=1",
# to compare with a value in BENCH_PG_ZZ_B_SET)
ZZ_A_SET=${BENCH_PG_ZZ_A_SET:-}
# a simulated LAN: every link between nodes (zyzzyva's replicas, the
# standbys and their primary) goes through zyzzyva-delay-relay, which
# delivers each byte this many microseconds after it arrived, each way;
# clients stay local to their server (0: loopback, no relay)
LAN=${BENCH_LAN_DELAY_US:-0}
KEEP=${BENCH_PG_KEEP:-0}
OUT=$root/build
N=4

say() { printf '== %s\n' "$*"; }
die() { echo "bench-pg: $*" >&2; exit 1; }

PG_BINDIR=$(pg_config --bindir 2>/dev/null) || die "no pg_config (install postgresql-server-dev-15)"
[ -x "$PG_BINDIR/pgbench" ] || die "no pgbench in $PG_BINDIR (install postgresql-15)"
[ -x "$BIN/zyzzyvad" ] || die "no $BIN/zyzzyvad (run make)"
[ -f "$(pg_config --pkglibdir)/zyzzyva.so" ] || die "the extension is not installed (make extension-install)"
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "no postgres user (install postgresql-15)"
	as_pg() { runuser -u postgres -- "$@"; }
elif [ "$(id -un)" = postgres ]; then
	as_pg() { "$@"; }
else
	die "run as root (servers run as the postgres user) or as postgres"
fi

# gnuplot draws the figure; without it the figures are still measured.
if ! command -v gnuplot >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		say "installing gnuplot-nox"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1; } ||
			echo "bench-pg: could not install gnuplot-nox; no PNG" >&2
	else
		echo "bench-pg: gnuplot is missing (apt-get install gnuplot-nox, as root); no PNG" >&2
	fi
fi

# A short directory: Unix socket paths must stay under 108 bytes.
W=$(mktemp -d /tmp/zz-benchpg-XXXXXX) || die "mktemp failed"
chmod 755 "$W"
[ "$(id -u)" = 0 ] && chown postgres: "$W"
ZZ=$W/zz		# the zyzzyva cluster
ZZB=$W/zb		# the second zyzzyva cluster (BENCH_PG_ZZ_B_SET)
U=$W/unrepl		# the unreplicated server
S=$W/sync		# the syncrep primary (S-0) and standbys (S-1 .. S-3)
CLUSTER=$here/zyzzyva-cluster
started_zz=0
started_zzb=0
started_pg=()	# data directories of servers we started
relay_pid=		# the syncrep standbys' relay

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$KEEP" = 1 ]; then
		echo "left running (BENCH_PG_KEEP=1) in $W: stop with"
		[ $started_zz = 1 ] && echo "  $CLUSTER stop $ZZ"
		[ $started_zzb = 1 ] && echo "  $CLUSTER stop $ZZB"
		for d in "${started_pg[@]+"${started_pg[@]}"}"; do echo "  runuser -u postgres -- $PG_BINDIR/pg_ctl -D $d -m immediate stop"; done
		exit $rc
	fi
	[ $started_zz = 1 ] && ZZ_BUILD=$BIN "$CLUSTER" stop "$ZZ" >/dev/null 2>&1
	[ $started_zzb = 1 ] && ZZ_BUILD=$BIN "$CLUSTER" stop "$ZZB" >/dev/null 2>&1
	local d
	for d in "${started_pg[@]+"${started_pg[@]}"}"; do
		as_pg "$PG_BINDIR/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
	done
	[ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null
	rm -rf "$W"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_ports N: N distinct free TCP ports on 127.0.0.1 (held until all are chosen).
free_ports() {
	perl -MIO::Socket::INET -e '
		my @s;
		for (1 .. $ARGV[0]) {
			my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			                              Proto => "tcp", Listen => 1, ReuseAddr => 1)
				or die "no free port: $!\n";
			push @s, $s;
		}
		print $_->sockport, "\n" for @s;' "$1"
}

# psql_to SOCKDIR PORT DB [psql options]
psql_to() {
	local sock=$1 port=$2 db=$3
	shift 3
	PGOPTIONS='-c client_min_messages=warning' as_pg "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$sock" -p "$port" -d "$db" "$@"
}

# load_schema SOCKDIR PORT DB: pgbench's tables at $SCALE, then tpcb().
load_schema() {
	local sock=$1 port=$2 db=$3
	as_pg "$PG_BINDIR/pgbench" -q -i -s "$SCALE" -h "$sock" -p "$port" "$db" >"$W/init-$port.log" 2>&1 ||
		die "pgbench -i failed on port $port; see $W/init-$port.log"
	psql_to "$sock" "$port" "$db" -f "$here/bench-pg/tpcb.sql" >/dev/null ||
		die "tpcb.sql failed on port $port"
}

# pg_server DIR PORT [conf lines...]: initdb and start a server of ours
# (trust over the Unix socket in $W, which only postgres and root reach).
pg_server() {
	local dir=$1 port=$2
	shift 2
	as_pg "$PG_BINDIR/initdb" -D "$dir" -A trust -E UTF8 --locale=C >"$dir.initdb.log" 2>&1 ||
		die "initdb $dir failed; see $dir.initdb.log"
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$W'"
		local l
		for l in "$@"; do echo "$l"; done
	} >>"$dir/postgresql.conf"
	pg_start "$dir"
}

pg_start() {
	local dir=$1
	as_pg "$PG_BINDIR/pg_ctl" -D "$dir" -l "$dir.log" -w -t 60 start >/dev/null ||
		die "server $dir did not start; see $dir.log"
	started_pg+=("$dir")
}

has() { [[ " $SYSTEMS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- setup
say "setup in $W: pgbench scale $SCALE, ${SECONDS_PER_POINT}s per point, clients: $CLIENT_COUNTS$([ "$LAN" != 0 ] && echo ", LAN: ${LAN} us one-way delay on every link between nodes (zyzzyva-delay-relay)")"
mapfile -t ports < <(free_ports 5)
U_PORT=${ports[0]}
S_PORT=(${ports[1]} ${ports[2]} ${ports[3]} ${ports[4]})

# zz_port CLUSTER I: replica I's server port
zz_port() { awk -F"'" '/^port = /{ print $2 }' "$1/pg-$2/zyzzyva-cluster.conf"; }

# zz_cluster DIR EXTRA_SETTINGS: start 4 replicas in DIR, load the schema
zz_cluster() {
	local dir=$1 extra=$2 kv i p
	local sets=(--set log_level=warning)
	for kv in $ZZ_SET $extra; do sets+=(--set "$kv"); done
	for kv in $ZZ_PG_SET; do sets+=(--pg-set "$kv"); done
	# pgbench's sessions call as postgres: every replica may, for this benchmark
	ZZ_LAN_DELAY_US=$LAN ZZ_BUILD=$BIN "$CLUSTER" start "$dir" --postgres --entrust postgres "${sets[@]}" >"$dir.start.log" 2>&1 ||
		{ cat "$dir.start.log" >&2; die "the zyzzyva cluster $dir did not start"; }
	# pgbench -i on the four servers at once: the same deterministic rows on each
	local pids=()
	for ((i = 0; i < N; i++)); do
		( load_schema "$dir/run" "$(zz_port "$dir" $i)" zyzzyva &&
			psql_to "$dir/run" "$(zz_port "$dir" $i)" zyzzyva -f "$here/bench-pg/replicate.sql" >/dev/null ) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || die "schema setup failed on a zyzzyva replica"; done
	local digests
	digests=$(for ((i = 0; i < N; i++)); do
		psql_to "$dir/run" "$(zz_port "$dir" $i)" zyzzyva -c "SELECT encode(zyzzyva.state_digest(), 'hex')"; done | sort -u)
	[ "$(wc -l <<<"$digests")" = 1 ] || die "the replicas' initial state digests differ"
	echo "four replicas, equal initial state digest ${digests:0:16}..."
}

if has zyzzyva; then
	say "zyzzyva: 4 PostgreSQL servers + 4 sidecars (zyzzyva-cluster --postgres)"
	started_zz=1
	zz_cluster "$ZZ" "$ZZ_A_SET"
	if [ -n "$ZZ_B_SET" ]; then
		say "zyzzyva_b: another 4 replicas, with $ZZ_B_SET"
		started_zzb=1
		zz_cluster "$ZZB" "$ZZ_B_SET"
	fi
fi

if has unreplicated; then
	say "unreplicated: one PostgreSQL server"
	pg_server "$U" "$U_PORT"
	load_schema "$W" "$U_PORT" postgres
fi

if has syncrep; then
	say "syncrep: a primary and 3 streaming standbys, remote_apply, ANY 2 (s1,s2,s3)"
	lan_conf=()
	if [ "$LAN" != 0 ]; then
		[ -x "$BIN/zyzzyva-delay-relay" ] || die "no $BIN/zyzzyva-delay-relay (run make)"
		SR_RELAY_PORT=$(free_ports 1)
		lan_conf=("listen_addresses = '127.0.0.1'")
		"$BIN/zyzzyva-delay-relay" "$LAN" "$SR_RELAY_PORT:${S_PORT[0]}" >"$W/relay.log" 2>&1 &
		relay_pid=$!
	fi
	pg_server "$S-0" "${S_PORT[0]}" "wal_level = replica" "max_wal_senders = 8" "${lan_conf[@]+"${lan_conf[@]}"}"
	load_schema "$W" "${S_PORT[0]}" postgres
	for i in 1 2 3; do
		as_pg "$PG_BINDIR/pg_basebackup" -h "$W" -p "${S_PORT[0]}" -D "$S-$i" -R -X stream -c fast >/dev/null 2>&1 ||
			die "pg_basebackup of standby $i failed"
		echo "port = ${S_PORT[$i]}" >>"$S-$i/postgresql.conf"
		echo "cluster_name = 's$i'" >>"$S-$i/postgresql.conf"
		sed -i "s/^primary_conninfo = '/primary_conninfo = 'application_name=s$i /" "$S-$i/postgresql.auto.conf"
		if [ "$LAN" != 0 ]; then
			# the standby streams from the primary over TCP, through the relay
			sed -i -E "s/(primary_conninfo = '.*)host=(''[^']*''|[^ ']+) port=[0-9]+/\1host=127.0.0.1 port=$SR_RELAY_PORT/" \
				"$S-$i/postgresql.auto.conf"
			grep -q "port=$SR_RELAY_PORT" "$S-$i/postgresql.auto.conf" || die "could not point standby $i at the relay"
		fi
		pg_start "$S-$i"
	done
	psql_to "$W" "${S_PORT[0]}" postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 2 (s1,s2,s3)'" \
		-c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
	for ((t = 0; t < 100; t++)); do
		q=$(psql_to "$W" "${S_PORT[0]}" postgres -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'")
		[ "$q" = 3 ] && break
		sleep 0.2
	done
	[ "$q" = 3 ] || die "the standbys did not become quorum standbys"
	echo "standbys: $(psql_to "$W" "${S_PORT[0]}" postgres -F ' ' -c "SELECT string_agg(application_name || '=' || sync_state, ' ' ORDER BY 1) FROM pg_stat_replication")"
fi

# Flush what the setup wrote, so that no point pays for it.
for d in "${started_pg[@]}"; do
	port=$(awk '/^port = /{ p = $3 } END { print p }' "$d/postgresql.conf")
	psql_to "$W" "$port" postgres -c CHECKPOINT >/dev/null 2>&1
done
for zc in $( [ $started_zz = 1 ] && echo "$ZZ"; [ $started_zzb = 1 ] && echo "$ZZB"); do
	for ((i = 0; i < N; i++)); do psql_to "$zc/run" "$(zz_port "$zc" $i)" zyzzyva -c CHECKPOINT >/dev/null; done
done
cp "$here/bench-pg/tpcb.pgbench" "$W/tpcb.pgbench" && chmod 644 "$W/tpcb.pgbench"

# ---------------------------------------------------------------- measuring
# run_pgbench TAG SOCKDIR PORT DB CLIENTS SECONDS: start one pgbench in the
# background; its output goes to $W/TAG.out.
bench_pids=()
run_pgbench() {
	local tag=$1 sock=$2 port=$3 db=$4 c=$5 secs=$6
	local j=$((c < 2 ? c : 2))
	as_pg "$PG_BINDIR/pgbench" -n -s "$SCALE" -h "$sock" -p "$port" -c "$c" -j "$j" -T "$secs" \
		-f "$W/tpcb.pgbench" "$db" >"$W/$tag.out" 2>&1 &
	bench_pids+=($!)
}

# summarize TAG...: "TPS MS" over the pgbench outputs TAG*.out (tps summed,
# latency weighted by transactions); fails if a pgbench failed or aborted.
summarize() {
	local ok=1 p
	for p in "${bench_pids[@]}"; do wait "$p" || ok=0; done
	bench_pids=()
	if [ $ok = 0 ] || grep -qE '^(pgbench: error|Run was aborted)' "$W/$1"*.out; then
		grep -hE 'error|abort' "$W/$1"*.out | head -5 >&2
		echo "FAILED FAILED"
		return
	fi
	awk '/^number of transactions actually processed: / { split($6, a, "/"); n = a[1] }
		/^latency average = / { lat += n * $4; tx += n }
		/^tps = / { tps += $3 }
		END { if (tx > 0) printf "%.0f %.2f\n", tps, lat / tx; else print "FAILED FAILED" }' "$W/$1"*.out
}

# zz_counters CLUSTER: "batches requests apply_us_total" of replica 0
# (the primary): the batches and requests its core executed so far, and
# the time its database took to apply them (mean per batch x batches,
# from sending a batch to its result).
zz_counters() {
	"$BIN/zyzzyva-cli" --timeout 2 --socket "$1/run/replica-0.sock" --status 2>/dev/null |
		awk -F': ' '$1 == "batches_executed" { b = $2 } $1 == "requests_executed" { r = $2 }
			$1 == "pg_mean_batch_us" { u = $2 } $1 == "pg_batches" { pb = $2 }
			END { printf "%d %d %.0f\n", b, r, u * pb }'
}

# measure_zyzzyva CLUSTER TAG CLIENTS SECONDS: "TPS MS" on stdout; in
# $W/TAG-batch "calls_per_batch batches us_per_batch batches_in_flight"
# of the primary (in flight: time its database spent on batches over the
# time measured, Little's law).
measure_zyzzyva() {
	local zc=$1 tag=$2 c=$3 secs=$4 i per b0 r0 u0 b1 r1 u1 t0 t1
	rm -f "$W/$tag"-*.out
	read -r b0 r0 u0 < <(zz_counters "$zc")
	t0=$(date +%s%N)
	if [ "$ZZ_CLIENTS_ON" = spread ]; then
		for ((i = 0; i < N; i++)); do
			per=$((c / N + (i < c % N ? 1 : 0)))
			[ $per -gt 0 ] && run_pgbench "$tag-$i" "$zc/run" "$(zz_port "$zc" $i)" zyzzyva "$per" "$secs"
		done
	else
		run_pgbench "$tag-$ZZ_CLIENTS_ON" "$zc/run" "$(zz_port "$zc" "$ZZ_CLIENTS_ON")" zyzzyva "$c" "$secs"
	fi
	summarize "$tag-"
	t1=$(date +%s%N)
	read -r b1 r1 u1 < <(zz_counters "$zc")
	if [ $((b1 - b0)) -gt 0 ]; then
		awk -v b=$((b1 - b0)) -v r=$((r1 - r0)) -v u=$((u1 - u0)) -v t=$(((t1 - t0) / 1000)) \
			'BEGIN { printf "%.2f %d %.0f %.2f\n", r / b, b, u / b, u / t }' >"$W/$tag-batch"
	else
		echo "- 0 - -" >"$W/$tag-batch"
	fi
}

measure_plain() {
	local tag=$1 port=$2 c=$3 secs=$4
	rm -f "$W/$tag"*.out
	run_pgbench "$tag" "$W" "$port" postgres "$c" "$secs"
	summarize "$tag"
}

# A short warm-up of each system (caches, the first autovacuum of the new tables).
say "warm-up: 3 s at 8 clients on each system"
has zyzzyva && measure_zyzzyva "$ZZ" zz 8 3 >/dev/null
[ $started_zzb = 1 ] && measure_zyzzyva "$ZZB" zb 8 3 >/dev/null
has unreplicated && measure_plain un "$U_PORT" 8 3 >/dev/null
has syncrep && measure_plain sr "${S_PORT[0]}" 8 3 >/dev/null

mkdir -p "$OUT"
name=bench-pg
[ "$LAN" != 0 ] && name=bench-pg-lan
dat=$OUT/$name.dat
echo "# clients zyzzyva_tps zyzzyva_ms unreplicated_tps unreplicated_ms syncrep_tps syncrep_ms zyzzyva_b_tps zyzzyva_b_ms calls_per_batch batches_in_flight" >"$dat"
lines=()
for c in $CLIENT_COUNTS; do
	zt=- zm=- ut=- um=- st=- sm=- bt=- bm=- rpb=- inflight=- brpb=- binflight=-
	if has zyzzyva; then
		measure_zyzzyva "$ZZ" zz "$c" "$SECONDS_PER_POINT" >"$W/result"
		read -r zt zm <"$W/result"
		read -r rpb nb us inflight <"$W/zz-batch"
		echo "clients=$c zyzzyva: $zt tps, $zm ms (primary's database: $nb batches, $rpb calls per batch, ${us} us mean time to apply a batch, $inflight batches in flight on average)"
	fi
	if [ $started_zzb = 1 ]; then
		measure_zyzzyva "$ZZB" zb "$c" "$SECONDS_PER_POINT" >"$W/result"
		read -r bt bm <"$W/result"
		read -r brpb nb us binflight <"$W/zb-batch"
		echo "clients=$c zyzzyva_b ($ZZ_B_SET): $bt tps, $bm ms (primary's database: $nb batches, $brpb calls per batch, ${us} us mean time to apply a batch, $binflight batches in flight on average)"
	fi
	if has unreplicated; then
		measure_plain un "$U_PORT" "$c" "$SECONDS_PER_POINT" >"$W/result"
		read -r ut um <"$W/result"
		echo "clients=$c unreplicated: $ut tps, $um ms"
	fi
	if has syncrep; then
		measure_plain sr "${S_PORT[0]}" "$c" "$SECONDS_PER_POINT" >"$W/result"
		read -r st sm <"$W/result"
		echo "clients=$c syncrep: $st tps, $sm ms"
	fi
	echo "$c $zt $zm $ut $um $st $sm $bt $bm $rpb $inflight" >>"$dat"
	line="clients=$c$([ "$LAN" != 0 ] && echo " lan_us=$LAN") zyzzyva_tps=$zt unreplicated_tps=$ut syncrep_tps=$st zyzzyva_ms=$zm unreplicated_ms=$um syncrep_ms=$sm calls_per_batch=$rpb batches_in_flight=$inflight"
	[ $started_zzb = 1 ] && line+=" zyzzyva_b_tps=$bt zyzzyva_b_ms=$bm zyzzyva_b_calls_per_batch=$brpb"
	line+=" zyzzyva/syncrep_tps=$(awk -v a="$zt" -v b="$st" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
	[ $started_zzb = 1 ] && line+=" zyzzyva/zyzzyva_b_tps=$(awk -v a="$zt" -v b="$bt" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
	lines+=("$line")
done

for zc in $( [ $started_zz = 1 ] && echo "$ZZ"; [ $started_zzb = 1 ] && echo "$ZZB"); do
	# the replicas still agree: the same digest once they applied the same batches
	for ((t = 0; t < 100; t++)); do
		last=$(for ((i = 0; i < N; i++)); do psql_to "$zc/run" "$(zz_port "$zc" $i)" zyzzyva -c "SELECT last_applied_seq FROM zyzzyva.status"; done | sort -u)
		[ "$(wc -l <<<"$last")" = 1 ] && break
		sleep 0.1
	done
	digests=$(for ((i = 0; i < N; i++)); do
		psql_to "$zc/run" "$(zz_port "$zc" $i)" zyzzyva -c "SELECT encode(zyzzyva.state_digest(), 'hex')"; done | sort -u)
	if [ "$(wc -l <<<"$last")" = 1 ] && [ "$(wc -l <<<"$digests")" = 1 ]; then
		echo "zyzzyva ($zc): the four replicas applied the same $last batches and agree (state digest ${digests:0:16}...)"
	else
		echo "bench-pg: WARNING: the zyzzyva replicas of $zc do not agree after the run (last applied: $(echo $last))" >&2
	fi
done

if command -v gnuplot >/dev/null 2>&1; then
	btitle=
	[ $started_zzb = 1 ] && btitle="btitle='zyzzyva with $ZZ_B_SET'; "
	if gnuplot -e "${btitle}datafile='$dat'; outfile='$OUT/$name.png'; subtitle='$([ "$LAN" != 0 ] && echo "LAN ${LAN} us one-way, ")pgbench scale $SCALE, ${SECONDS_PER_POINT} s per point, clients $(echo $CLIENT_COUNTS | tr ' ' ','), $(nproc) cores, $(date -u +%Y-%m-%d)'" \
		"$here/bench-pg/plot.gp" 2>"$W/gnuplot.err"; then
		if has zyzzyva && has unreplicated && has syncrep; then
			mkdir -p "$root/docs" && cp "$OUT/$name.png" "$root/docs/$name.png"
			echo "plot: $OUT/$name.png (copied to docs/$name.png); figures: $dat"
		else
			echo "plot: $OUT/$name.png (not all three systems: docs/$name.png left alone); figures: $dat"
		fi
	else
		cat "$W/gnuplot.err" >&2
		echo "bench-pg: gnuplot failed; figures: $dat" >&2
	fi
fi

printf '%s\n' "${lines[@]}"
