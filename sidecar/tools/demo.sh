#!/bin/bash
# demo.sh (make demo): Byzantine-fault-tolerant PostgreSQL on one machine.
#
# On a fresh Debian 12, as root: installs what the build needs, builds,
# installs the extension, starts 4 replicas (f = 1), each a PostgreSQL 15
# server with its sidecar, sets up a bank on every replica, runs transfers
# from clients connected to every replica, and shows that the four
# databases agree: their zyzzyva.status, four equal state digests, and the
# same sum of balances.  Then a short load measurement (pgbench calling the
# replicated function) with 1 and 8 clients.  Everything it starts is stopped by pid at the end,
# unless KEEP=1.
#
# Settings (environment): DEMO_DIR (default /tmp/zyzzyva-demo),
# CLIENTS (clients per replica, 2), TRANSFERS (per client, 40),
# BENCH_SECONDS (per measurement, 3; 0 skips it), KEEP=1 (leave running).
#
# Roles: a replicated call runs on every replica as the role that made it,
# and only if the replica it came from is entrusted with that role.  The
# demo's roles are ordinary ones: bank_owner owns the schema, bank_client
# makes the transfers; every replica is entrusted with both (entrust.N in
# each sidecar's configuration, written by zyzzyva-cluster --entrust).
#
# The bank's schema (bank.sql) is set up as a replicated request
# (zyzzyva.replicated_ddl) made by bank_owner through replica 0 and again
# through replica 1: schema changes need f+1 replicas.  Every replica
# applies it, as bank_owner, at the same point in the order.  The transfers are plain SQL, SELECT transfer(...), in psql sessions on every
# replica: the extension's call path sends each through its replica's
# sidecar (zyzzyva.socket_path, set by zyzzyva-cluster).  zyzzyva-cli shows
# the same call made on the socket directly.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DIR=${DEMO_DIR:-/tmp/zyzzyva-demo}
CLIENTS=${CLIENTS:-2}
TRANSFERS=${TRANSFERS:-40}
BENCH_SECONDS=${BENCH_SECONDS:-3}
KEEP=${KEEP:-0}
N=4
SIG='public.transfer(integer,integer,bigint)'

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs PostgreSQL as the postgres user)"

# --- 1. packages (the list of .ci/run) ---
packages=(build-essential clang libssl-dev libcmocka-dev postgresql-15 postgresql-server-dev-15
	postgresql-client-15 libpq-dev libipc-run-perl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
id postgres >/dev/null 2>&1 || die "no postgres user after installing postgresql-15"

# --- 2. build, install the extension ---
say "building (make) and installing the extension (make extension-install)"
make -C "$root" -j"$(nproc)" >/dev/null
make -C "$root" extension-install >/dev/null
BIN=$root/build
CLUSTER=$here/zyzzyva-cluster
PG_BINDIR=$(pg_config --bindir)

# --- 3. the cluster ---
if [ -d "$DIR" ]; then
	"$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true
	rm -rf "$DIR"
fi
cleanup() {
	local rc=$?
	if [ "$KEEP" = 1 ]; then
		echo
		echo "left running (KEEP=1); stop with: $CLUSTER stop $DIR"
	else
		say "stopping what the demo started"
		"$CLUSTER" stop "$DIR" || true
	fi
	exit $rc
}
trap cleanup EXIT
say "starting 4 replicas (f = 1): PostgreSQL server + zyzzyvad each, in $DIR"
# a checkpoint every 32 batches, so the digests are compared often
"$CLUSTER" start "$DIR" --postgres --set checkpoint_interval=32 \
	--roles 'bank_owner bank_client' --entrust 'bank_owner bank_client'

port() { awk -F"'" '/^port = /{ print $2 }' "$DIR/pg-$1/zyzzyva-cluster.conf"; }
# sql I [psql options]: run SQL (stdin or -c) on replica I's database
sql() {
	local i=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' runuser -u postgres -- "$PG_BINDIR/psql" -X -q \
		-v ON_ERROR_STOP=1 -h "$DIR/run" -p "$(port "$i")" -d zyzzyva "$@"
}

# sql_as ROLE I [psql options]: the same, as ROLE (the session's role; the
# demo connects as postgres through the local socket, peer authentication)
sql_as() {
	local role=$1 i=$2
	shift 2
	PGOPTIONS="-c client_min_messages=warning -c role=$role" runuser -u postgres -- "$PG_BINDIR/psql" -X -q \
		-v ON_ERROR_STOP=1 -h "$DIR/run" -p "$(port "$i")" -d zyzzyva "$@"
}

# --- 4. the schema, once, through replica 0, as a replicated request ---
say "what each replica's administrator grants, alike on every replica: bank_owner may create in public and propose schema changes"
for ((i = 0; i < N; i++)); do
	sql "$i" -c "GRANT CREATE ON SCHEMA public TO bank_owner;
	             GRANT EXECUTE ON FUNCTION zyzzyva.replicated_ddl(text), zyzzyva.replicate_table(regclass),
	                                       zyzzyva.replicate_function(regprocedure) TO bank_owner"
done
say "bank schema, as bank_owner: SELECT zyzzyva.replicated_ddl(<bank.sql>) through replica 0, a proposal until a second replica (f+1 = 2) proposes the same"
{ printf 'SELECT zyzzyva.replicated_ddl($ddl$'; cat "$here/bank.sql"; printf '$ddl$);\n'; } |
	sql_as bank_owner 0 -A -t >/dev/null
sql 1 -c "SELECT replica, role, replicas, proposed_seq FROM zyzzyva.ddl_proposals" | sed 's/^/  /'
echo "  replicated tables after one replica's proposal: $(sql 1 -A -t -c "SELECT count(*) FROM zyzzyva.replicated_tables")"
say "the same text through replica 1: every replica applies it, at the same point in the order"
{ printf 'SELECT zyzzyva.replicated_ddl($ddl$'; cat "$here/bank.sql"; printf '$ddl$);\n'; } |
	sql_as bank_owner 1 -A -t >/dev/null
for ((i = 0; i < N; i++)); do
	for ((t = 0; t < 100; t++)); do
		[ "$(sql "$i" -A -t -c "SELECT count(*) FROM zyzzyva.replicated_tables")" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(sql "$i" -A -t -c "SELECT count(*) FROM zyzzyva.replicated_tables")" -ge 1 ] ||
		die "replica $i did not apply the schema within 10 s (see $DIR/replica-$i.log)"
	echo "replica $i: $(sql "$i" -A -t -c "SELECT count(*) || ' accounts, total ' || sum(balance) FROM accounts")"
done
echo "replicated: $(sql 0 -A -t -c "SELECT string_agg(signature, ', ') FROM zyzzyva.replicated_functions")," \
	"$(sql 0 -A -t -c "SELECT string_agg(table_name, ', ') FROM zyzzyva.replicated_tables")"

# --- 5. transfers from clients on every replica ---
say "$((N * CLIENTS)) psql clients ($CLIENTS per replica) as bank_client (no superuser, no privilege on accounts), $TRANSFERS random transfers each: plain SQL, SELECT transfer(src, dst, amount)"
echo "(the extension sends each call through its replica's sidecar to all replicas and returns the agreed result)"
pids=()
for ((i = 0; i < N; i++)); do
	for ((c = 0; c < CLIENTS; c++)); do
		RANDOM=$((1000 * i + c + 1))
		for ((k = 0; k < TRANSFERS; k++)); do
			echo "SELECT transfer($((RANDOM % 100 + 1)), $((RANDOM % 100 + 1)), $((RANDOM % 300 + 1)));"
		done >"$DIR/client-$i-$c.sql"
		sql_as bank_client "$i" -v ON_ERROR_STOP=0 -A -t <"$DIR/client-$i-$c.sql" \
			>"$DIR/client-$i-$c.out" 2>"$DIR/client-$i-$c.err" &
		pids+=($!)
	done
done
for pid in "${pids[@]}"; do
	wait "$pid" || true
done
results=$(cat "$DIR"/client-*.out | grep -c '^[0-9-]' || true)
errors=$(cat "$DIR"/client-*.err | grep -c '^ERROR:' || true)
others=$(cat "$DIR"/client-*.err | grep -v '^ERROR:  new row for relation "accounts" violates check constraint' | grep -c . || true)
echo "$results transfers returned the new balance; $errors were refused by the function itself" \
	"(an overdraft violates CHECK (balance >= 0): the same error on every replica)"
echo "a few answers on replica 0:"
head -3 "$DIR/client-0-0.out" | sed 's/^/  /'
grep -h '^ERROR:' "$DIR"/client-*.err | head -1 | sed 's/^/  /' || true
[ "$((results + errors))" = "$((N * CLIENTS * TRANSFERS))" ] && [ "$others" = 0 ] ||
	die "$((N * CLIENTS * TRANSFERS - results - errors)) transfers failed otherwise; see $DIR/client-*.err"

say "the same call through the sidecar's socket (what the extension does), with how it completed"
"$BIN/zyzzyva-cli" --verbose --socket "$DIR/run/replica-2.sock" --role bank_client --database zyzzyva \
	--call "$SIG" '10 11 5' '11 10 5' | sed 's/^/  /'
say "what an entrusted role may not do: bank_client reading accounts directly, and a role no replica is entrusted with"
sql_as bank_client 1 -c "SELECT transfer(1, 2, 1) AS via_the_function" 2>&1 | sed 's/^/  /'
sql_as bank_client 1 -v ON_ERROR_STOP=0 -c "SELECT balance FROM accounts WHERE id = 1" 2>&1 | sed 's/^/  /' || true
"$BIN/zyzzyva-cli" --socket "$DIR/run/replica-2.sock" --role postgres --database zyzzyva \
	--call "$SIG" '1 2 1' 2>&1 | sed 's/^/  /'

# read-your-writes: the caller's replica has applied its request when the call returns
say "read-your-writes: a transfer on replica 3, and the next statement of the same session"
sql 3 -c "SELECT balance AS before FROM accounts WHERE id = 7" -c "SET ROLE bank_client" \
	-c "SELECT transfer(7, 8, 1)" -c "RESET ROLE" -c "SELECT balance AS after FROM accounts WHERE id = 7"

# --- 6. the replicas agree ---
say "waiting for every replica to apply the same last batch"
last=""
for ((t = 0; t < 150; t++)); do
	last=$(for ((i = 0; i < N; i++)); do sql "$i" -A -t -c "SELECT last_applied_seq FROM zyzzyva.status"; done | sort -u)
	[ "$(wc -l <<<"$last")" = 1 ] && break
	sleep 0.1
done
[ "$(wc -l <<<"$last")" = 1 ] || die "the replicas did not converge: last applied batches $(echo $last)"
echo "all at batch $last"

say "zyzzyva.status on each replica"
for ((i = 0; i < N; i++)); do
	echo "-- replica $i"
	sql "$i" -c "SELECT last_applied_seq, last_applied_view AS view, stable_seq, max_cc_seq,
	                    logged_batches, undo_records, encode(stable_digest, 'hex') AS stable_digest
	               FROM zyzzyva.status"
done

say "state digests and balances"
digests=()
for ((i = 0; i < N; i++)); do
	d=$(sql "$i" -A -t -c "SELECT encode(zyzzyva.state_digest(), 'hex')")
	s=$(sql "$i" -A -t -c "SELECT sum(balance) || ' in ' || count(*) || ' accounts' FROM accounts")
	echo "replica $i: state_digest $d, $s"
	digests+=("$d|$s")
done
if [ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" = 1 ]; then
	echo "=> the four replicas agree: equal digests, and the money is all there (100 x 1000)"
else
	die "the replicas disagree"
fi
"$CLUSTER" status "$DIR" | sed 's/^/  /'

# --- 7. load through PostgreSQL ---
if [ "$BENCH_SECONDS" != 0 ]; then
	say "closed-loop load, pgbench running SELECT transfer(...) for $BENCH_SECONDS s, clients spread over the replicas"
	printf 'SELECT transfer(1, 2, 1);\nSELECT transfer(2, 1, 1);\n' >"$DIR/pgbench.sql"
	chown postgres: "$DIR/pgbench.sql"
	for c in 1 8; do
		bpids=()
		for ((i = 0; i < N && i < c; i++)); do
			per=$(( c / N > 0 ? c / N : 1 ))
			PGOPTIONS='-c role=bank_client' runuser -u postgres -- "$PG_BINDIR/pgbench" -n -h "$DIR/run" -p "$(port "$i")" -c "$per" \
				-T "$BENCH_SECONDS" -f "$DIR/pgbench.sql" zyzzyva >"$DIR/pgbench-$c-$i.out" 2>&1 &
			bpids+=($!)
		done
		for pid in "${bpids[@]}"; do wait "$pid" || true; done
		cat "$DIR"/pgbench-"$c"-*.out | awk -v c="$c" '
			/^tps = / { tps += $3 }
			/^latency average = / { lat += $4; n++ }
			END { if (n) printf "clients=%d calls/s=%.0f mean latency=%.2f ms per call (each pgbench transaction is 2 calls)\n",
			                    c, 2 * tps, lat / n / 2 }'
	done
	echo "(each call is ordered, executed in every replica's database, and answered by all of them;"
	echo " figures on this machine swing with other load: compare within one run)"
fi
