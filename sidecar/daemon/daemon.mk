# zyzzyvad, its tools and its multi-process tests.  Included by the root
# Makefile: same compiler flags (CFLAGS_ZZ), same BUILD directory, same
# SANITIZE switch.  Links the protocol core (libzzcore.a) and OpenSSL.

DAEMON_SRC := $(filter-out sidecar/daemon/main.c,$(wildcard sidecar/daemon/*.c))
DAEMON_OBJ := $(patsubst sidecar/%.c,$(BUILD)/%.o,$(DAEMON_SRC))
DAEMON_HDR := $(wildcard sidecar/daemon/*.h sidecar/core/*.h) extension/zzwire.h
# the request and reply format, shared with the extension (extension/zzwire.h)
WIRE_OBJ := $(BUILD)/extension/zzwire.o
DAEMON_OBJ += $(WIRE_OBJ)
# libpq (package libpq-dev) for the PostgreSQL service
PG_CONFIG ?= pg_config
PQ_INCLUDE := $(shell $(PG_CONFIG) --includedir 2>/dev/null)
PQ_LIBDIR := $(shell $(PG_CONFIG) --libdir 2>/dev/null)
DAEMON_CFLAGS := $(CFLAGS_ZZ) -Isidecar/daemon -Iextension $(if $(PQ_INCLUDE),-I$(PQ_INCLUDE))
DAEMON_LIBS := $(if $(PQ_LIBDIR),-L$(PQ_LIBDIR)) -lpq -lssl -lcrypto
DAEMON_BINS := $(BUILD)/zyzzyvad $(BUILD)/zyzzyva-keygen $(BUILD)/zyzzyva-cli \
               $(if $(wildcard sidecar/tools/bench.c),$(BUILD)/zyzzyva-bench) \
               $(if $(wildcard sidecar/daemon/tests/probe.c),$(BUILD)/zyzzyva-probe) \
               $(BUILD)/zyzzyva-delay-relay

.PHONY: daemon daemon-test
all: daemon
daemon: $(DAEMON_BINS) $(BUILD)/fi/zyzzyvad

$(BUILD)/daemon/%.o: sidecar/daemon/%.c $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c $< -o $@

$(WIRE_OBJ): extension/zzwire.c extension/zzwire.h
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

# The fault-injection build of zyzzyvad ($(BUILD)/fi/zyzzyvad, rules in the
# root Makefile: make fi-daemon), for the tests that need its test hooks
# (ZZ_TEST_* in the environment, test_withhold_order_req).  The product
# binary, $(BUILD)/zyzzyvad, has none of them.  ZZPG.pm picks it with
# fault_injection => 1.

$(BUILD)/zyzzyva-keygen: $(BUILD)/tools/keygen.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/zyzzyva-cli: $(BUILD)/tools/cli.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/zyzzyva-bench: $(BUILD)/tools/bench.o $(BUILD)/libzzdaemon.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(DAEMON_LIBS) -lm

# the benchmarks' simulated network link (bench-null.sh, bench-pg.sh: BENCH_LAN_DELAY_US)
$(BUILD)/zyzzyva-delay-relay: $(BUILD)/tools/delay-relay.o
	$(CC) $(LDFLAGS_ZZ) -o $@ $^

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
	ZZ_BUILD=$(abspath $(BUILD)) BENCH_LAN_DELAY_US=$${BENCH_LAN_DELAY_US:-250} sidecar/tools/bench-null.sh

# libFuzzer targets (clang from Debian): make fuzz builds them and their
# seed corpora; run them with make fuzz-run (FUZZ_TIME seconds each, both at
# once, one job each), or one alone:
#   build/fuzz/fuzz_msg -max_total_time=600 build/fuzz/corpus-msg
#   build/fuzz/fuzz_conn -max_total_time=600 build/fuzz/corpus-conn
# fuzz_conn: bytes in pieces on a framed connection (frame.c, conn.c).
# fuzz_msg: every decoder in message*.c, dispatched on the type byte; its
# seeds are valid encodings of every type, written by fuzz_msg_seeds.
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -Isidecar/core -Isidecar/daemon -Iextension
# Only what a framed connection needs, so that a core file being edited
# elsewhere does not stop the fuzzer from building.
FUZZ_DAEMON_SRC := $(addprefix sidecar/daemon/,conn.c frame.c event.c log.c tls.c keys.c config.c)
FUZZ_CORE_SRC := $(addprefix sidecar/core/,message.c message_view.c params.c crypto.c)
FUZZ_TIME ?= 600

.PHONY: fuzz fuzz-run
fuzz: $(BUILD)/fuzz/fuzz_conn $(BUILD)/fuzz/fuzz_msg $(BUILD)/fuzz/corpus-msg/.done \
      $(BUILD)/fuzz/corpus-conn/.done

$(BUILD)/fuzz/fuzz_conn: sidecar/daemon/tests/fuzz_conn.c $(FUZZ_DAEMON_SRC) $(FUZZ_CORE_SRC) $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_DAEMON_SRC) $(FUZZ_CORE_SRC) -lssl -lcrypto -lm

$(BUILD)/fuzz/fuzz_msg: sidecar/daemon/tests/fuzz_msg.c $(FUZZ_CORE_SRC) $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_CORE_SRC) -lssl -lcrypto -lm

$(BUILD)/fuzz/fuzz_msg_seeds: sidecar/daemon/tests/fuzz_msg.c $(FUZZ_CORE_SRC) $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -DFUZZ_MSG_SEEDS -Isidecar/core -o $@ $< \
		$(FUZZ_CORE_SRC) -lssl -lcrypto -lm

$(BUILD)/fuzz/corpus-msg/.done: $(BUILD)/fuzz/fuzz_msg_seeds
	@mkdir -p $(dir $@)
	$< $(dir $@)
	@touch $@

# Frame seeds: channel maximum selector, then (piece length, bytes) pieces:
# a frame whole, a frame split in two, two frames in one piece, an
# oversized length.
$(BUILD)/fuzz/corpus-conn/.done:
	@mkdir -p $(dir $@)
	printf '\004\012\002\003\000\000\000abc\001\002' > $(dir $@)whole
	printf '\004\003\002\003\000\005\000\000\000abc' > $(dir $@)split
	printf '\005\020\001\002\000\000\000\273x\002\003\000\000\000\314yz' > $(dir $@)two
	printf '\003\005\002\377\377\377\377' > $(dir $@)oversized
	@touch $@

fuzz-run: fuzz
	@mkdir -p $(BUILD)/fuzz/artifacts
	$(BUILD)/fuzz/fuzz_msg -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/artifacts/msg- $(BUILD)/fuzz/corpus-msg \
		> $(BUILD)/fuzz/msg.log 2>&1 & \
	$(BUILD)/fuzz/fuzz_conn -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/artifacts/conn- $(BUILD)/fuzz/corpus-conn \
		> $(BUILD)/fuzz/conn.log 2>&1; \
	wait; tail -n 20 $(BUILD)/fuzz/msg.log $(BUILD)/fuzz/conn.log

# The README's main command: on a fresh Debian 12, as root, installs the
# packages, builds, installs the extension, and runs a 4-replica cluster
# of PostgreSQL servers and sidecars through a bank demo (see the script).
# KEEP=1 leaves the cluster running.
.PHONY: demo
demo:
	bash sidecar/tools/demo.sh
