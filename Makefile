# zyzzyva: Byzantine-fault-tolerant replication for PostgreSQL.
#
#   make              build the protocol core, simulator, tools
#   make test         run every test (unit tests, simulator sweeps, ...)
#   make sim SEEDS=N F=f [BYZANTINE=1]   simulator sweep
#   make bench-core   protocol core throughput and crypto cost, no sockets
#   SANITIZE=1        build and test with AddressSanitizer + UBSan
#
# The sidecar and the core are built by this Makefile's own rules: PGXS
# links a PROGRAM against Debian's whole $(LIBS), which fails here.

CC      ?= cc
SANITIZE ?= 0
SEEDS   ?= 1000
F       ?= 1
BYZANTINE ?= 0

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     := -O2 -g
endif

WARN    := -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
           -Wshadow=local -Wpointer-arith -Wvla
CFLAGS_ZZ := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -Isidecar/core -Isidecar/sim
LDFLAGS_ZZ := $(SANFLAGS)
CRYPTO_LIBS := -lcrypto

# The core is built twice.  The product (libzzcore.a, linked by the
# daemon) has no test-only code.  The fault-injection build (fi/, with
# -DZZ_FAULT_INJECTION) adds the planted-bug switches and the faulty
# clients the simulator, the unit tests and the benchmark drive; it is all
# they link.  make check-fault-injection shows the difference with nm.
FI      := $(BUILD)/fi
CFLAGS_FI := $(CFLAGS_ZZ) -DZZ_FAULT_INJECTION
CORE_HDR := $(wildcard sidecar/core/*.h)
SIM_HDR  := $(wildcard sidecar/sim/*.h)

CORE_SRC := $(wildcard sidecar/core/*.c)
CORE_OBJ := $(patsubst sidecar/%.c,$(BUILD)/%.o,$(CORE_SRC))
FI_CORE_OBJ := $(patsubst sidecar/%.c,$(FI)/%.o,$(CORE_SRC))
SIM_SRC  := $(filter-out sidecar/sim/main.c,$(wildcard sidecar/sim/*.c))
SIM_OBJ  := $(patsubst sidecar/%.c,$(FI)/%.o,$(SIM_SRC))
TEST_SRC := $(wildcard sidecar/tests/test_*.c)
TEST_BIN := $(patsubst sidecar/tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all test unit-test sim sim-test sim-test-quick bench-core clean check-fault-injection
all: $(BUILD)/libzzcore.a $(FI)/libzzcore.a $(BUILD)/zyzzyva-sim $(TEST_BIN) $(BUILD)/bench-core

$(BUILD)/%.o: sidecar/%.c $(CORE_HDR) $(SIM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ZZ) -c $< -o $@

# The product core is a release build: without the per-step invariant
# assertions (zz_replica_check), which test builds keep.
$(BUILD)/core/%.o: sidecar/core/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ZZ) -DNDEBUG -c $< -o $@

$(FI)/%.o: sidecar/%.c $(CORE_HDR) $(SIM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FI) -c $< -o $@

$(BUILD)/libzzcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FI)/libzzcore.a: $(FI_CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libzzsim.a: $(SIM_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/zyzzyva-sim: $(FI)/sim/main.o $(BUILD)/libzzsim.a $(FI)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(CRYPTO_LIBS)

$(BUILD)/tests/%: sidecar/tests/%.c $(BUILD)/libzzsim.a $(FI)/libzzcore.a $(CORE_HDR) $(SIM_HDR) $(wildcard sidecar/tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FI) -Isidecar/tests -o $@ $< $(BUILD)/libzzsim.a $(FI)/libzzcore.a $(LDFLAGS_ZZ) -lcmocka $(CRYPTO_LIBS)

# The replica unit tests (test_replica_*.c, one file per protocol area)
# share one rig: replica_rig.c, linked into each of them.
REPLICA_RIG_OBJ := $(BUILD)/tests/replica_rig.o

$(REPLICA_RIG_OBJ): sidecar/tests/replica_rig.c sidecar/tests/replica_rig.h $(CORE_HDR) $(SIM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FI) -Isidecar/tests -c $< -o $@

$(BUILD)/tests/test_replica_%: sidecar/tests/test_replica_%.c $(REPLICA_RIG_OBJ) $(BUILD)/libzzsim.a $(FI)/libzzcore.a $(CORE_HDR) $(SIM_HDR) $(wildcard sidecar/tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FI) -Isidecar/tests -o $@ $< $(REPLICA_RIG_OBJ) $(BUILD)/libzzsim.a $(FI)/libzzcore.a $(LDFLAGS_ZZ) -lcmocka $(CRYPTO_LIBS)

# the call and reply codec the extension and the daemon share
$(BUILD)/tests/test_wire: sidecar/tests/test_wire.c extension/zzwire.c extension/zzwire.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ZZ) -Iextension -o $@ $< extension/zzwire.c $(LDFLAGS_ZZ) -lcmocka

# The benchmark measures: its core is the fault-injection one (libzzsim.a
# needs it) without the per-step invariant checks, whose hashing would
# count as the protocol's.
BENCH_CORE_OBJ := $(patsubst sidecar/%.c,$(BUILD)/fi-bench/%.o,$(CORE_SRC))

$(BUILD)/fi-bench/core/%.o: sidecar/core/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_FI) -DZZ_NO_STEP_CHECKS -c $< -o $@

$(BUILD)/fi-bench/libzzcore.a: $(BENCH_CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bench-core: sidecar/bench/bench_core.c $(BUILD)/libzzsim.a $(BUILD)/fi-bench/libzzcore.a
	$(CC) $(CFLAGS_FI) -o $@ $< $(BUILD)/libzzsim.a $(BUILD)/fi-bench/libzzcore.a $(LDFLAGS_ZZ) $(CRYPTO_LIBS)

unit-test: $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; ./$$t; done

sim: $(BUILD)/zyzzyva-sim
	./$(BUILD)/zyzzyva-sim --seeds $(SEEDS) --f $(F) --jobs 2 $(if $(filter 1,$(BYZANTINE)),--byzantine)

# The simulator sweeps that make test runs: the sweeps issues 2 and 3 ask
# to pass (symbolic crypto, both cores, about 3 to 4 minutes), and a sample
# with real Ed25519/HMAC end to end.  sim-test-quick is a smaller set for
# sanitizer builds, which run several times slower.
sim-test: $(BUILD)/zyzzyva-sim
	./$(BUILD)/zyzzyva-sim --seeds 20000 --f 1 --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 2000 --f 2 --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 20000 --f 1 --byzantine --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 2000 --f 2 --byzantine --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 30 --f 1 --real-crypto --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 10 --f 1 --byzantine --real-crypto --jobs 2 --quiet

sim-test-quick: $(BUILD)/zyzzyva-sim
	./$(BUILD)/zyzzyva-sim --seeds 2000 --f 1 --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 300 --f 2 --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 1500 --f 1 --byzantine --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 300 --f 2 --byzantine --jobs 2 --quiet
	./$(BUILD)/zyzzyva-sim --seeds 10 --f 1 --real-crypto --jobs 2 --quiet

# Fragments owned by other parts of the tree add their own targets and
# append test targets to EXTRA_TESTS.
EXTRA_TESTS :=
-include sidecar/sim/sim.mk
-include sidecar/daemon/daemon.mk
-include extension/extension.mk

# A fault-injection daemon, for tests that need the core's switches or the
# daemon's own test hooks: make fi-daemon builds $(FI)/zyzzyvad and its
# tools from the same sources with -DZZ_FAULT_INJECTION, linked against the
# fault-injection core.  Never installed, never in make test's product check.
FI_DAEMON_OBJ := $(patsubst sidecar/%.c,$(FI)/%.o,$(DAEMON_SRC))
FI_DAEMON_BINS := $(patsubst $(BUILD)/%,$(FI)/%,$(DAEMON_BINS))

.PHONY: fi-daemon
fi-daemon: $(FI_DAEMON_BINS)

$(FI)/daemon/%.o: sidecar/daemon/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -DZZ_FAULT_INJECTION -c $< -o $@

$(FI)/tools/%.o: sidecar/tools/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -DZZ_FAULT_INJECTION -c $< -o $@

$(FI)/daemon/tests/%.o: sidecar/daemon/tests/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -DZZ_FAULT_INJECTION -c $< -o $@

$(FI)/libzzdaemon.a: $(FI_DAEMON_OBJ) $(WIRE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FI)/zyzzyvad: $(FI)/daemon/main.o $(FI)/libzzdaemon.a $(FI)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(FI)/zyzzyva-%: $(FI)/tools/%.o $(FI)/libzzdaemon.a $(FI)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS) -lm

$(FI)/zyzzyva-probe: $(FI)/daemon/tests/probe.o $(FI)/libzzdaemon.a $(FI)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

# Test-only code stays out of the product: the product core and every
# product binary built so far hold none of these symbols, while the
# fault-injection core holds them all (so a check that finds nothing can
# tell it looked in the right place).  More symbols or strings may be
# added to FI_MARKERS by the parts that own them.
FI_MARKERS += zz_replica_set_bugs zz_client_set_bugs zz_fault_injection_build \
              zz_replica_assert_check zz_replica_set_nd_time_skew
PRODUCT_BINS = $(BUILD)/libzzcore.a $(DAEMON_BINS) $(BUILD)/libzzdaemon.a
# The daemon's own test hooks (settings and environment variables), looked
# for as strings, debug information included: in the fault-injection
# daemon, and in no product binary.
FI_DAEMON_MARKERS := test_withhold_order_req test_nd_time_skew \
                     ZZ_TEST_CORRUPT_SNAPSHOT ZZ_TEST_EXIT_ON_STATE_REQUEST

check-fault-injection: $(BUILD)/libzzcore.a $(FI)/libzzcore.a $(PRODUCT_BINS) $(FI)/zyzzyvad
	@set -e; for s in $(FI_DAEMON_MARKERS); do \
		if ! strings -a $(FI)/zyzzyvad | grep -qw "$$s"; then \
			echo "check-fault-injection: $$s missing from $(FI)/zyzzyvad"; exit 1; fi; \
		for f in $(PRODUCT_BINS); do \
			if strings -a $$f | grep -qw "$$s"; then \
				echo "check-fault-injection: $$f holds test-only $$s"; exit 1; fi; \
		done; \
	done
	@set -e; for sym in $(FI_MARKERS); do \
		if ! nm $(FI)/libzzcore.a | grep -qw "$$sym"; then \
			echo "check-fault-injection: $$sym missing from $(FI)/libzzcore.a"; exit 1; fi; \
		for f in $(PRODUCT_BINS); do \
			if nm -a $$f 2>/dev/null | grep -qw "$$sym" || strings -a $$f | grep -qw "$$sym"; then \
				echo "check-fault-injection: $$f holds test-only $$sym"; exit 1; fi; \
		done; \
	done; echo "check-fault-injection: no test-only code in $(PRODUCT_BINS)"

test: unit-test check-fault-injection sim-test $(EXTRA_TESTS)

bench-core: $(BUILD)/bench-core
	./$(BUILD)/bench-core

clean:
	rm -rf build build-san
