# bench-common.sh: what the cluster benchmarks share (sourced by
# bench-adopt.sh and bench-transfer.sh, which set BENCH_NAME, DIR and
# CLUSTER first): messages, timing, the postgres user, and a fresh DIR
# with room for need_mb megabytes.

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

as_pg=()
if [ "$(id -u)" = 0 ]; then
	as_pg=(runuser -u postgres --)
elif [ "$(id -un)" != postgres ]; then
	die "run as root or as the postgres user"
fi

# fresh_dir NEED_MB: DIR emptied (a cluster left there stopped), owned by
# postgres, with NEED_MB megabytes free
fresh_dir() {
	[ -d "$DIR" ] && { "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
	mkdir -p "$DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
	local avail_mb
	avail_mb=$(df -Pm "$DIR" | awk 'NR == 2 { print $4 }')
	[ "$avail_mb" -ge "$1" ] || die "needs about $1 MB free under $DIR, has $avail_mb"
}
