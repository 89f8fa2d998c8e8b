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

CORE_SRC := $(wildcard sidecar/core/*.c)
CORE_OBJ := $(patsubst sidecar/%.c,$(BUILD)/%.o,$(CORE_SRC))
SIM_SRC  := $(filter-out sidecar/sim/main.c,$(wildcard sidecar/sim/*.c))
SIM_OBJ  := $(patsubst sidecar/%.c,$(BUILD)/%.o,$(SIM_SRC))
TEST_SRC := $(wildcard sidecar/tests/test_*.c)
TEST_BIN := $(patsubst sidecar/tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all test unit-test sim sim-test sim-test-quick bench-core clean
all: $(BUILD)/libzzcore.a $(BUILD)/zyzzyva-sim $(TEST_BIN) $(BUILD)/bench-core

$(BUILD)/%.o: sidecar/%.c $(wildcard sidecar/core/*.h sidecar/sim/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ZZ) -c $< -o $@

$(BUILD)/libzzcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libzzsim.a: $(SIM_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/zyzzyva-sim: $(BUILD)/sim/main.o $(BUILD)/libzzsim.a $(BUILD)/libzzcore.a
	$(CC) $(LDFLAGS_ZZ) -o $@ $^ $(CRYPTO_LIBS)

$(BUILD)/tests/%: sidecar/tests/%.c $(BUILD)/libzzsim.a $(BUILD)/libzzcore.a $(wildcard sidecar/core/*.h sidecar/sim/*.h sidecar/tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ZZ) -Isidecar/tests -o $@ $< $(BUILD)/libzzsim.a $(BUILD)/libzzcore.a $(LDFLAGS_ZZ) -lcmocka $(CRYPTO_LIBS)

$(BUILD)/bench-core: sidecar/bench/bench_core.c $(BUILD)/libzzsim.a $(BUILD)/libzzcore.a
	$(CC) $(CFLAGS_ZZ) -o $@ $< $(BUILD)/libzzsim.a $(BUILD)/libzzcore.a $(LDFLAGS_ZZ) $(CRYPTO_LIBS)

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

test: unit-test sim-test $(EXTRA_TESTS)

bench-core: $(BUILD)/bench-core
	./$(BUILD)/bench-core

clean:
	rm -rf build build-san
