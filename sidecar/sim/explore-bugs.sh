#!/bin/sh
# explore-bugs.sh SIM BUDGET DIR: run the schedule explorer once per planted
# bug (each switched on alone), stopping at the first violation, and print
# how long each took to find; then the shipped code for the same budget.
# Exit status 1 if a bug was not found or the shipped code failed.
sim=${1:-./build/zyzzyva-sim}
budget=${2:-600}
dir=${3:-build/explore}
mkdir -p "$dir"
status=0
printf '%-24s %-6s %10s %9s  %s\n' bug found schedule seconds scenario
for bug in unsafe-new-view cc-any-view max-cc-by-seq client-complete-on-2f \
	new-view-lowest-cc pom-any-seq fill-hole-no-verify state-reply-no-cert lc-any-view; do
	out=$("$sim" --explore --bug "$bug" --budget "$budget" --stop-at-first --quiet \
		--out "$dir" 2>&1)
	line=$(printf '%s\n' "$out" | grep '^first violation:')
	if [ -n "$line" ]; then
		idx=$(printf '%s\n' "$line" | sed 's/^first violation: schedule \([0-9]*\), \([0-9.]*\)s:.*/\1/')
		secs=$(printf '%s\n' "$line" | sed 's/^first violation: schedule \([0-9]*\), \([0-9.]*\)s:.*/\2/')
		file=$(printf '%s\n' "$out" | grep 'written to' | sed 's/.*written to //')
		printf '%-24s %-6s %10s %9s  %s\n' "$bug" yes "$idx" "$secs" "$file"
	else
		n=$(printf '%s\n' "$out" | tail -1)
		printf '%-24s %-6s %10s %9s  (%s)\n' "$bug" NO - "$budget" "$n"
		status=1
	fi
done
out=$("$sim" --explore --budget "$budget" --quiet --out "$dir" 2>&1)
printf 'shipped code, %ss: %s\n' "$budget" "$(printf '%s\n' "$out" | tail -1)"
printf '%s\n' "$out" | tail -1 | grep -q ' 0 failed$' || status=1
exit $status
