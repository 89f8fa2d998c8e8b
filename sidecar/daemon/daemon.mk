# zyzzyvad, its tools and its multi-process tests.  Included by the root
# Makefile: same compiler flags (CFLAGS_ZZ), same BUILD directory, same
# SANITIZE switch.  Links the protocol core (libzzcore.a) and OpenSSL.

DAEMON_SRC := $(filter-out sidecar/daemon/main.c,$(wildcard sidecar/daemon/*.c))
DAEMON_OBJ := $(patsubst sidecar/%.c,$(BUILD)/%.o,$(DAEMON_SRC))
DAEMON_HDR := $(wildcard sidecar/daemon/*.h sidecar/core/*.h)
# libpq (package libpq-dev) for the PostgreSQL service
PG_CONFIG ?= pg_config
PQ_INCLUDE := $(shell $(PG_CONFIG) --includedir 2>/dev/null)
PQ_LIBDIR := $(shell $(PG_CONFIG) --libdir 2>/dev/null)
DAEMON_CFLAGS := $(CFLAGS_ZZ) -Isidecar/daemon $(if $(PQ_INCLUDE),-I$(PQ_INCLUDE))
DAEMON_LIBS := $(if $(PQ_LIBDIR),-L$(PQ_LIBDIR)) -lpq -lssl -lcrypto
DAEMON_BINS := $(BUILD)/zyzzyvad $(BUILD)/zyzzyva-keygen $(BUILD)/zyzzyva-cli \
               $(if $(wildcard sidecar/tools/bench.c),$(BUILD)/zyzzyva-bench) \
               $(if $(wildcard sidecar/daemon/tests/probe.c),$(BUILD)/zyzzyva-probe)

.PHONY: daemon daemon-test
all: daemon
daemon: $(DAEMON_BINS)

$(BUILD)/daemon/%.o: sidecar/daemon/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c $< -o $@

$(BUILD)/tools/%.o: sidecar/tools/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c $< -o $@

$(BUILD)/daemon/tests/%.o: sidecar/daemon/tests/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c $< -o $@

$(BUILD)/libzzdaemon.a: $(DAEMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/zyzzyvad: $(BUILD)/daemon/main.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/zyzzyva-keygen: $(BUILD)/tools/keygen.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/zyzzyva-cli: $(BUILD)/tools/cli.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/zyzzyva-bench: $(BUILD)/tools/bench.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS) -lm

$(BUILD)/zyzzyva-probe: $(BUILD)/daemon/tests/probe.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

# The multi-process tests: TAP scripts run by prove, with the binaries
# above (ZZ_BUILD tells the scripts where they are).
daemon-test: $(DAEMON_BINS)
	ZZ_BUILD=$(abspath $(BUILD)) ZZ_TOOLS=$(abspath sidecar/tools) \
		prove sidecar/daemon/tests/

EXTRA_TESTS += daemon-test

# The PostgreSQL tests: regress/t/1xx_*.t start four servers and four
# sidecars (service = postgres).  make tap-check (the extension's, in
# EXTRA_TESTS) runs them with the rest of regress/t; they find the daemon's
# binaries and tools through ZZ_BUILD and ZZ_TOOLS, exported here, and need
# them built.  make pg-daemon-test runs only them.
export ZZ_BUILD := $(abspath $(BUILD))
export ZZ_TOOLS := $(abspath sidecar/tools)
tap-check: daemon

.PHONY: pg-daemon-test
pg-daemon-test: daemon extension-install
	bash sidecar/daemon/tests/pg-tap.sh

# The 0/0 benchmark: a null-service cluster, single client, batched load,
# one backup killed.  Not part of make test (it measures, it does not check).
.PHONY: bench-null
bench-null: daemon
	ZZ_BUILD=$(abspath $(BUILD)) sidecar/tools/bench-null.sh

# libFuzzer targets (clang from Debian): make fuzz builds them; run one with
#   build/fuzz/fuzz_conn -max_total_time=600 sidecar/daemon/tests/corpus/
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -Isidecar/core -Isidecar/daemon
# Only what a framed connection needs, so that a core file being edited
# elsewhere does not stop the fuzzer from building.
FUZZ_DAEMON_SRC := $(addprefix sidecar/daemon/,conn.c frame.c event.c log.c tls.c keys.c config.c)
FUZZ_CORE_SRC := $(addprefix sidecar/core/,message.c params.c crypto.c)

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_conn

$(BUILD)/fuzz/fuzz_conn: sidecar/daemon/tests/fuzz_conn.c $(FUZZ_DAEMON_SRC) $(FUZZ_CORE_SRC) $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_DAEMON_SRC) $(FUZZ_CORE_SRC) -lssl -lcrypto -lm

# The README's main command: on a fresh Debian 12, as root, installs the
# packages, builds, installs the extension, and runs a 4-replica cluster
# of PostgreSQL servers and sidecars through a bank demo (see the script).
# KEEP=1 leaves the cluster running.
.PHONY: demo
demo:
	bash sidecar/tools/demo.sh
