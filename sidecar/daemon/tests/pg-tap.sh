#!/bin/bash
# pg-tap.sh (make pg-daemon-test): only the daemon's PostgreSQL TAP tests,
# regress/t/1xx_*.t, the way regress/tap.sh runs the whole folder (which
# make tap-check does, these included): PostgreSQL::Test::Cluster from
# postgresql-client-15, as the postgres user when run as root, on a copy
# of the tests in a temporary directory.  Needs ZZ_BUILD and ZZ_TOOLS (the
# Makefile exports them), the binaries built and the extension installed.
# Ends with "N passed, M failed" and a non-zero exit on any failure.
#
#   ZZ_TESTS='103 104'   run only these (by number)
#   ZZ_KILL_ROUNDS, ZZ_SEED   passed to the tests (103_restart.t)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
pgxs=$("$PG_CONFIG" --pgxs)
perl_lib=$(dirname "$pgxs")/../../src/test/perl
pg_regress=$(dirname "$pgxs")/../../src/test/regress/pg_regress
bindir=$("$PG_CONFIG" --bindir)
: "${ZZ_BUILD:=$root/build}"
: "${ZZ_TOOLS:=$root/sidecar/tools}"
export ZZ_BUILD ZZ_TOOLS

work=$(mktemp -d "${TMPDIR:-/tmp}/zyzzyva-pgtap.XXXXXX")
mkdir "$work/t"
if [ -n "${ZZ_TESTS:-}" ]; then
	for t in $ZZ_TESTS; do cp "$root"/regress/t/"$t"_*.t "$work/t/"; done
else
	cp "$root"/regress/t/1[0-9][0-9]_*.t "$work/t/"
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$work"
	as_pg=(runuser -u postgres --)
fi
set +e
(cd "$work" && "${as_pg[@]}" env PATH="$bindir:$PATH" TESTDIR="$work" PG_REGRESS="$pg_regress" ZZ_BUILD="$ZZ_BUILD" \
	ZZ_TOOLS="$ZZ_TOOLS" ZZ_KILL_ROUNDS="${ZZ_KILL_ROUNDS:-}" ZZ_SEED="${ZZ_SEED:-}" prove ${PROVE_FLAGS:-} -I "$perl_lib" t/) >"$work/prove.out" 2>&1
rc=$?
set -e
cat "$work/prove.out"
total=$(ls "$work"/t/*.t | wc -l)
passed=$(grep -cE '^t/[^ ]+\.t \.+ ok$' "$work/prove.out" || true)
# (prove -v prints no "t/NAME.t .. ok" line: trust its exit status then)
[ "$rc" -eq 0 ] && passed=$total
failed=$((total - passed))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
if [ "$failed" -ne 0 ]; then
	for log in "$work"/tmp_check/log/*; do
		[ -f "$log" ] && { echo "== $log"; tail -n 40 "$log"; }
	done
	echo "(work directory kept: $work)"
else
	rm -rf "$work"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
