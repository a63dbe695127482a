# bench/bench.mk - the benchmark suite, included by the Makefile.
#
#   make bench         the full run (about 15 minutes on 2 cores): bare
#                      mosquitto, mosquitto with dynamic-security and Parley
#                      side by side; prints the table (see docs/PERFORMANCE.md)
#   make bench-smoke   a short run (< 60 s) that checks that the tools work
#                      and that messages flow; never asserts a speed
#   make bench-tools   only builds the load generator and its unit tests
#
# Sizes and durations come from BENCH_* environment variables (bench/run.py
# --help lists them).  Uses CC, CFLAGS_ALL, LDFLAGS_ALL, BUILD and
# CMOCKA_LIBS from the Makefile; objects come from its $(BUILD)/%.o rule.

BENCH_MOSQ_LIBS := $(shell pkg-config --libs libmosquitto 2>/dev/null || echo -lmosquitto)
BENCH_LIB_OBJ := $(BUILD)/bench/histogram.o $(BUILD)/bench/plan.o $(BUILD)/bench/stamp.o
BENCH_LOADGEN := $(BUILD)/bench/parley-loadgen
BENCH_UNIT := $(BUILD)/bench/test_bench
BENCH_RUN := PARLEY_BUILD=$(BUILD) PARLEY_SAN=$(SAN) BENCH_LOADGEN=$(BENCH_LOADGEN) \
	/usr/bin/python3 bench/run.py

.PHONY: bench bench-smoke bench-tools

bench-tools: $(BENCH_LOADGEN) $(BENCH_UNIT)

$(BENCH_LOADGEN): $(BUILD)/bench/loadgen.o $(BENCH_LIB_OBJ)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(BENCH_MOSQ_LIBS)

$(BENCH_UNIT): bench/test_bench.c $(BENCH_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $^ $(LDFLAGS_ALL) $(CMOCKA_LIBS)

bench: all bench-tools
	$(BENCH_UNIT)
	$(BENCH_RUN) full

bench-smoke: all bench-tools
	$(BENCH_UNIT)
	$(BENCH_RUN) smoke
