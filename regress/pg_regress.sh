#!/bin/bash
# Run the extension's pg_regress suite on a throw-away server.
#
#   bash regress/pg_regress.sh [test ...]     (default: regress/schedule)
#
# The extension must be installed (make extension-install).  The server
# refuses to run as root, so as root the suite runs as the postgres user on
# a copy of regress/ in a temporary directory that user owns.  Ends with a
# line "N passed, M failed" and exits non-zero on any failure; the diffs of
# failed tests are printed and copied to regress/regression.diffs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
pgxs=$("$PG_CONFIG" --pgxs)
pg_regress=$(dirname "$pgxs")/../../src/test/regress/pg_regress
bindir=$("$PG_CONFIG" --bindir)

if [ ! -x "$pg_regress" ]; then
    echo "pg_regress not found at $pg_regress (install postgresql-client-15)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zyzzyva-regress.XXXXXX")
cp -r "$here/sql" "$here/expected" "$here/schedule" "$work/"
# the suite applies batches as if from replica 0's clients, as the user it
# runs as (a superuser, so named) or any other role
regress_user=$([ "$(id -u)" = 0 ] && echo postgres || id -un)
printf "shared_preload_libraries = 'zyzzyva'\nzyzzyva.entrust = '0:*,%s'\n" \
    "$regress_user" > "$work/zyzzyva.conf"
if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=(--schedule="$work/schedule")
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$work"
    as_pg=(runuser -u postgres --)
fi

set +e
(cd "$work" && "${as_pg[@]}" "$pg_regress" \
    --bindir="$bindir" \
    --temp-instance="$work/tmp_check" \
    --temp-config="$work/zyzzyva.conf" \
    --inputdir="$work" --outputdir="$work" \
    --dbname=contrib_regression \
    --encoding=UTF8 --no-locale \
    "${tests[@]}") > "$work/pg_regress.out" 2>&1
rc=$?
set -e
cat "$work/pg_regress.out"

passed=$(grep -cE '\.\.\. ok' "$work/pg_regress.out" || true)
failed=$(grep -cE '\.\.\. (FAILED|failed)' "$work/pg_regress.out" || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1        # the server or pg_regress itself failed
fi

if [ "$failed" -ne 0 ]; then
    if [ -f "$work/regression.diffs" ]; then
        cp "$work/regression.diffs" "$here/regression.diffs"
        head -n 400 "$work/regression.diffs"
    fi
    if [ -d "$work/log" ]; then
        tail -n 50 "$work"/log/*.log 2>/dev/null || true
    fi
    echo "(work directory kept: $work)"
else
    rm -rf "$work"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
