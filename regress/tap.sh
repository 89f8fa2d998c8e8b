#!/bin/bash
# Run the extension's TAP tests (regress/t/*.t) with PostgreSQL's own
# PostgreSQL::Test::Cluster, shipped in postgresql-client-15.
#
#   bash regress/tap.sh [t/NNN_name.t ...]
#
# The extension must be installed.  As root, the tests run as the postgres
# user on a copy of regress/t in a temporary directory.  Ends with a line
# "N passed, M failed" (test scripts) and exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
pgxs=$("$PG_CONFIG" --pgxs)
perl_lib=$(dirname "$pgxs")/../../src/test/perl
pg_regress=$(dirname "$pgxs")/../../src/test/regress/pg_regress
bindir=$("$PG_CONFIG" --bindir)

if [ ! -f "$perl_lib/PostgreSQL/Test/Cluster.pm" ]; then
    echo "PostgreSQL::Test::Cluster not found under $perl_lib (install postgresql-client-15)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zyzzyva-tap.XXXXXX")
cp -r "$here/t" "$work/"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$work"
    as_pg=(runuser -u postgres --)
fi
if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=(t/)
fi

set +e
(cd "$work" && "${as_pg[@]}" env PATH="$bindir:$PATH" TESTDIR="$work" PG_REGRESS="$pg_regress" \
    prove -I "$perl_lib" "${tests[@]}") > "$work/prove.out" 2>&1
rc=$?
set -e
cat "$work/prove.out"

if [ $# -gt 0 ]; then
    total=$#
else
    total=$(ls "$work"/t/*.t | wc -l)
fi
passed=$(grep -cE '^t/[^ ]+\.t \.+ ok$' "$work/prove.out" || true)
failed=$((total - passed))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
if [ "$failed" -ne 0 ]; then
    # the scripts that did not end in "ok", and the end of each one's log
    failed_tests=()
    for t in "${tests[@]}"; do
        if [ -d "$work/$t" ]; then
            for f in "$work/$t"*.t; do failed_tests+=("t/$(basename "$f")"); done
        else
            failed_tests+=("$t")
        fi
    done
    names=()
    for t in "${failed_tests[@]}"; do
        awk -v t="$t" '$1 == t && $NF == "ok" { found = 1 } END { exit !found }' \
            "$work/prove.out" && continue
        names+=("$t")
        log="$work/tmp_check/log/regress_log_$(basename "$t" .t)"
        [ -f "$log" ] && { echo "== $log"; tail -n 60 "$log"; }
    done
    echo "(work directory kept: $work)"
    echo "failed: ${names[*]:-(prove exited $rc)}"
else
    rm -rf "$work"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
