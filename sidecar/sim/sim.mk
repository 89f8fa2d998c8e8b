# sidecar/sim/sim.mk: the simulator's part of the root Makefile (included
# before the daemon's): the schedule explorer and its targets.
