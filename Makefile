# upset: build, test, demo, bench. `make help` lists the targets.
# CC defaults to mpicc; SAN=1 builds everything under AddressSanitizer + UBSan in build-san/,
# FUZZ=1 the library and the libFuzzer targets with clang in build-fuzz/.

ifeq ($(origin CC),default)
CC = mpicc
endif
PYTHON ?= /usr/bin/python3
NP ?= 2
PKGS = hdf5-openmpi yaml-0.1

ifeq ($(FUZZ),1)
# libFuzzer targets (tests/fuzz/): the library built by clang with coverage hooks
BUILD ?= build-fuzz
SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
OPT = -O1
export OMPI_CC = clang
else ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT = -O1
else
BUILD ?= build
SANFLAGS =
OPT = -O2
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -Wall -Wextra -Wvla -Werror -D_POSIX_C_SOURCE=200809L -Iinclude $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS += $(PKG_LIBS) -lm

LIB_SRC := $(shell find src -name '*.c' ! -name main.c | sort)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/check_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
UPSET := $(BUILD)/upset

.PHONY: all deps demo check check-unit check-integration bench figures fuzz fuzz-build clean help
all: $(UPSET) $(TEST_BIN)

deps:
	@sh tools/install-deps.sh

$(BUILD)/obj/%.o: src/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libupset.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(UPSET): $(BUILD)/obj/main.o $(BUILD)/libupset.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags check) -Itests -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libupset.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check) -lglpk

demo: deps
	@$(MAKE) --no-print-directory $(UPSET)
	@sh tools/demo.sh $(UPSET)

check: deps
	@$(MAKE) --no-print-directory all
	@sh tests/run-tests.sh $(BUILD)

$(BUILD)/bench_emd: tools/bench_emd.c $(BUILD)/libupset.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench_kernels: tools/bench_kernels.c $(BUILD)/libupset.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# OpenBLAS and oneDNN for the library side of make bench's comparison (install-deps.sh --bench)
$(BUILD)/bench_libs: tools/bench_libs.c $(BUILD)/libupset.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) -lopenblas -ldnnl

bench:
	@sh tools/install-deps.sh --bench
	@$(MAKE) --no-print-directory $(UPSET) $(BUILD)/bench_emd $(BUILD)/bench_kernels $(BUILD)/bench_libs
	@sh tools/bench.sh $(UPSET)

figures: deps
	@$(MAKE) --no-print-directory $(UPSET)
	@sh tools/figures.sh $(UPSET)

FUZZ_TARGETS = campaign model hgcal cifar10 checkpoint hdf5data
FUZZ_TIME ?= 60

# make fuzz [FUZZ_TIME=seconds per target]
fuzz:
	@sh tools/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@sh tools/fuzz.sh build-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(BUILD)/libupset.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(BUILD)/libupset.a $(LDLIBS)

clean:
	rm -rf build build-san build-fuzz

help:
	@echo "make demo     run the demo campaign (ECON-T Medium, CIFAR-10) on the bundled data"
	@echo "make check    build and run every test (Check suites, then mpirun integration cases)"
	@echo "make check SAN=1   the same under AddressSanitizer + UBSan"
	@echo "make bench    throughput, delta vs full, EMD, scaling and memory figures"
	@echo "make fuzz     run each libFuzzer target for FUZZ_TIME seconds (default 60)"
	@echo "make figures  regenerate the paper's figures from results/"

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/main.d $(TEST_BIN:=.d)
