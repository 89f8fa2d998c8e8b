# extension/extension.mk: the PostgreSQL extension's part of the root
# Makefile (included at its end).
#
#   make extension-build     build extension/zyzzyva.so (PGXS)
#   make extension-install   install it into the local PostgreSQL (as root)
#   make regress-check       install, then run the pg_regress suite on a
#                            throw-away server (as the postgres user)
#   make tap-check           install, then run the TAP tests in regress/t
#                            (PostgreSQL::Test::Cluster, as the postgres user)

PG_CONFIG ?= pg_config
PGXS_MK := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.PHONY: extension-build extension-install extension-clean regress-check tap-check

all: extension-build

extension-build:
	@test -f "$(PGXS_MK)" || { echo "PGXS not found: install postgresql-server-dev-15"; exit 1; }
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) with_llvm=no

extension-install: extension-build
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) with_llvm=no install

regress-check: extension-install
	PG_CONFIG=$(PG_CONFIG) bash regress/pg_regress.sh

tap-check: extension-install
	PG_CONFIG=$(PG_CONFIG) bash regress/tap.sh

EXTRA_TESTS += regress-check tap-check

clean: extension-clean
extension-clean:
	-$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) clean

# make bench-pg: a TPC-B-like replicated function through pgbench on a
# 4-replica zyzzyva cluster, one unreplicated server and a primary with 3
# synchronous standbys, side by side in one run (sidecar/tools/bench-pg.sh;
# as root; about 10 minutes each).  Ends with one line per client count and
# draws build/bench-pg.png (copied to docs/bench-pg.png); then the same
# with a simulated LAN (BENCH_LAN_DELAY_US, 250 us one-way: bench-pg-lan.*).
.PHONY: bench-pg
bench-pg: daemon extension-install
	ZZ_BUILD=$(abspath $(BUILD)) bash sidecar/tools/bench-pg.sh
	ZZ_BUILD=$(abspath $(BUILD)) BENCH_LAN_DELAY_US=$${BENCH_LAN_DELAY_US:-250} bash sidecar/tools/bench-pg.sh

# make bench-adopt: an existing database of at least 1 GB (pgbench scale
# 70) put under replication on four replicas (pg_dump, zyzzyva-cluster
# adopt, the first stable checkpoint); prints the time of each phase and
# the digest rate (sidecar/tools/bench-adopt.sh; as root; needs about 7 GB
# of free disk under /tmp, removed at the end).
.PHONY: bench-adopt
bench-adopt: daemon extension-install
	ZZ_BUILD=$(abspath $(BUILD)) bash sidecar/tools/bench-adopt.sh

# make bench-transfer: a replica that missed BENCH_MB (default 2048) MB of
# rows catches up by chunked state transfer while calls go on; prints the
# transfer's time and rate, the serving replica's p99 call latency without
# and during it, and both sidecars' peak memory
# (sidecar/tools/bench-transfer.sh; as root; BENCH_MB=100 for a short run).
.PHONY: bench-transfer
bench-transfer: daemon extension-install
	ZZ_BUILD=$(abspath $(BUILD)) bash sidecar/tools/bench-transfer.sh
