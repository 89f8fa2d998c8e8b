# sidecar/sim/sim.mk: the simulator's part of the root Makefile (included
# before the daemon's): the schedule explorer and its targets
# (sidecar/sim/EXPLORE.md).
#
#   make explore [BUG=name] [EXPLORE_BUDGET=s]   search schedules (resumable)
#   make explore-bugs                            every planted bug: time to find
#   make explore-test                            the short run make test does

EXPLORE_BUDGET ?= 600

# The core's hook for a faulty replica that lies consistently (replica.h)
# is test-only: make check-fault-injection looks for it.
FI_MARKERS += zz_replica_set_vc_rewrite
EXPLORE_DIR    := $(BUILD)/explore
EXPLORE_STATE  ?= $(EXPLORE_DIR)/progress-$(if $(BUG),$(BUG),shipped).txt

.PHONY: explore explore-bugs explore-test

# Resumes from EXPLORE_STATE: delete it to start over.
explore: $(BUILD)/zyzzyva-sim
	@mkdir -p $(EXPLORE_DIR)
	./$(BUILD)/zyzzyva-sim --explore --budget $(EXPLORE_BUDGET) $(if $(BUG),--bug $(BUG)) \
		--state $(EXPLORE_STATE) --out $(EXPLORE_DIR)

explore-bugs: $(BUILD)/zyzzyva-sim
	sidecar/sim/explore-bugs.sh ./$(BUILD)/zyzzyva-sim $(EXPLORE_BUDGET) $(EXPLORE_DIR)

# In make test: the first schedules on the shipped code find nothing, and
# a client completing on 2f matching responses (a planted bug) is found
# without a hand-written schedule, and the scenario it writes out replays
# it through the scenario runner.
explore-test: $(BUILD)/zyzzyva-sim
	./$(BUILD)/zyzzyva-sim --explore --max-schedules 6000 --budget 120 --quiet \
		--out $(BUILD)/explore-test
	@rm -rf $(BUILD)/explore-test
	@if ./$(BUILD)/zyzzyva-sim --explore --bug client-complete-on-2f --stop-at-first --budget 60 \
		--quiet --out $(BUILD)/explore-test > $(BUILD)/explore-test.log; then \
		cat $(BUILD)/explore-test.log; \
		echo "explore-test: the explorer did not find a client completing on 2f responses"; exit 1; fi
	@cat $(BUILD)/explore-test.log
	@f=$$(ls $(BUILD)/explore-test/*.zz | head -1); \
		./$(BUILD)/zyzzyva-sim --scenario $$f --planted > $(BUILD)/explore-test.replay || \
		{ tail -3 $(BUILD)/explore-test.replay; echo "explore-test: $$f does not replay"; exit 1; }; \
		tail -2 $(BUILD)/explore-test.replay

EXTRA_TESTS += explore-test
