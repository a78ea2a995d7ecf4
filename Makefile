# tasktap — build, test and demo.
#
#   make deps    install the Debian packages the build and tests need
#   make         build the agent into .output/tasktap
#   make demo    deps + build, then trace the demo worker and print waterfalls
#   make check   unit tests (cmocka, also under ASan+UBSan), end-to-end tests (real BPF,
#                root), a 30 s smoke run of each fuzz harness
#   make fuzz    each fuzz harness for FUZZ_TIME seconds (default 30)
#   make bench   benchmarks
#   make install the agent and its manual page under $(DESTDIR)$(PREFIX)
#   make clean
#
# V=1 prints full commands.

OUTPUT := .output
CC ?= cc
CXX ?= g++
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
RUSTC ?= /usr/bin/rustc
PREFIX ?= /usr/local

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# The BPF target architecture, from the machine's: vmlinux.h and the
# PT_REGS macros of bpf_tracing.h differ per architecture.
MACHINE := $(shell uname -m)
ARCH := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(MACHINE)))
ifeq ($(filter x86 arm64,$(ARCH)),)
$(error unsupported architecture '$(ARCH)': tasktap builds on x86_64 (ARCH=x86) and aarch64 (ARCH=arm64))
endif

# CFLAGS, LDFLAGS and LDLIBS are the user's (`make CFLAGS=-O0`); what the
# build needs is added in TT_CFLAGS and TT_LDLIBS, so that it stays.
CFLAGS ?= -O2 -g
TT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation \
	     -MMD -MP -Iinclude -iquote user -I$(OUTPUT) -I$(OUTPUT)/otlp \
	     -DTASKTAP_VERSION='"$(VERSION)"' -D_GNU_SOURCE
ALL_CFLAGS = $(TT_CFLAGS) $(CFLAGS)
TT_LDLIBS := -lbpf -lelf -lz -lyaml -lxxhash -liberty -lm -lpthread -lmicrohttpd -lprotobuf-c \
	     -lcurl
ALL_LDLIBS = $(TT_LDLIBS) $(LDLIBS)
# <linux/*.h> (tests/bench/floor.bpf.c) include <asm/*.h>, which are in the multiarch dir
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Iinclude -I$(OUTPUT) -I/usr/include/$(MACHINE)-linux-gnu
# Target programs: plain C, no tracing code; -O1 keeps their frames simple,
# noinline + asm volatile("") keeps every probed function real, and frame
# pointers (as distributions now build) start them with an emulated push.
WORKER_CFLAGS := -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wall -Wextra \
		 -Werror -pthread

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

USER_SRCS := $(wildcard user/*.c user/*/*.c)
USER_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(USER_SRCS))
LIB_OBJS := $(filter-out $(OUTPUT)/user/main.o,$(USER_OBJS))
LIB := $(OUTPUT)/libtasktap.a

# OTLP: the project's own .proto subset (user/otlp/), compiled by protoc-c at
# build time into $(OUTPUT)/otlp/; the generated code goes into the library.
PROTO_SRCS := $(wildcard user/otlp/*.proto)
PB_C := $(patsubst user/otlp/%.proto,$(OUTPUT)/otlp/%.pb-c.c,$(PROTO_SRCS))
PB_H := $(PB_C:.c=.h)
PB_OBJS := $(PB_C:.c=.o)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

WORKER_SRCS := $(wildcard tests/workers/*.c)
WORKER_BINS := $(patsubst tests/workers/%.c,$(OUTPUT)/%,$(WORKER_SRCS))

# Fixtures for the ELF tests: the same small program built four ways.
FIXTURES := $(OUTPUT)/fixtures/prog-pie $(OUTPUT)/fixtures/prog-nopie \
	    $(OUTPUT)/fixtures/libfix.so $(OUTPUT)/fixtures/libfix-stripped.so

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(SKELS)
.PHONY: all deps demo check unit unit-bins e2e bench soak clean format-check install

all: $(OUTPUT)/tasktap $(OUTPUT)/tasktap.8 $(WORKER_BINS)

deps:
	$(Q)scripts/install-deps.sh

$(OUTPUT) $(OUTPUT)/tests $(OUTPUT)/fixtures:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

# bpf/*.bpf.h: parts of a BPF object, included by its .bpf.c (procs.bpf.h)
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) $(OUTPUT)/vmlinux.h \
		   $(wildcard include/tasktap/*.h) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# Only the objects that include a skeleton depend on it, through their .d
# files; the first build needs it before any of them compiles.
$(OUTPUT)/user/%.o: user/%.c | $(SKELS) $(PB_H)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/tasktap: $(OUTPUT)/user/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(ALL_LDLIBS) -o $@

# The manual page, from the usage texts --help prints (user/usage.h).
$(OUTPUT)/tasktap.8: $(OUTPUT)/tasktap
	$(call msg,MAN,$@)
	$(Q)$< help --man > $@

install: $(OUTPUT)/tasktap $(OUTPUT)/tasktap.8
	$(Q)install -D -m 0755 $(OUTPUT)/tasktap $(DESTDIR)$(PREFIX)/bin/tasktap
	$(Q)install -D -m 0644 $(OUTPUT)/tasktap.8 $(DESTDIR)$(PREFIX)/share/man/man8/tasktap.8

# workers on a queue's client library (the recipes' tests) link it
$(OUTPUT)/amqp-worker: WORKER_LIBS := -lrabbitmq
$(OUTPUT)/redis-worker: WORKER_LIBS := -lhiredis
$(OUTPUT)/gearman-worker: WORKER_LIBS := -lgearman

$(OUTPUT)/%: tests/workers/%.c | $(OUTPUT)
	$(call msg,WORKER,$@)
	$(Q)$(CC) $(WORKER_CFLAGS) $< -o $@ $(WORKER_LIBS)

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB) | $(PB_H) $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIB) $(ALL_LDLIBS) -lcmocka -o $@

$(OUTPUT)/fixtures/prog-pie: tests/fixtures/prog.c | $(OUTPUT)/fixtures
	$(Q)$(CC) -O1 -fPIE -pie -fcf-protection=full $< -o $@
$(OUTPUT)/fixtures/prog-nopie: tests/fixtures/prog.c | $(OUTPUT)/fixtures
	$(Q)$(CC) -O1 -fno-pie -no-pie -fcf-protection=none $< -o $@
$(OUTPUT)/fixtures/libfix.so: tests/fixtures/lib.c | $(OUTPUT)/fixtures
	$(Q)$(CC) -O1 -fPIC -shared $< -o $@
$(OUTPUT)/fixtures/libfix-stripped.so: $(OUTPUT)/fixtures/libfix.so
	$(Q)strip --strip-all $< -o $@

# every unit binary, even after one fails, and one summary line
unit: $(UNIT_BINS) $(FIXTURES)
	$(Q)scripts/run-unit.sh $(UNIT_BINS)

e2e: all unit-bins
	$(Q)python3 tests/e2e/run.py

check: deps
	$(Q)$(MAKE) --no-print-directory all unit-bins sanitized-bins
	$(Q)scripts/run-tests.sh

unit-bins: $(UNIT_BINS) $(FIXTURES)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/bench.sh

# the node agent under reloads, outages, SIGKILLs and slow clients for
# SOAK_TIME seconds (not part of check): figures in .output/soak.json
SOAK_TIME ?= 600
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)python3 scripts/soak.py --duration $(SOAK_TIME)

format-check:
	$(Q)clang-format --dry-run --Werror $(USER_SRCS) $(wildcard user/*.h user/*/*.h) \
		$(BPF_SRCS) $(wildcard bpf/*.bpf.h) $(wildcard include/tasktap/*.h)
	$(Q)scripts/check-sizes.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

RECEIVER := $(OUTPUT)/otlp-receiver

all: $(RECEIVER)

$(OUTPUT)/otlp:
	$(Q)mkdir -p $@

# protoc-c writes every file at once; each output depends on every .proto
# because of imports.
$(OUTPUT)/otlp/%.pb-c.c $(OUTPUT)/otlp/%.pb-c.h: user/otlp/%.proto $(PROTO_SRCS) | $(OUTPUT)/otlp
	$(call msg,PROTOC,$@)
	$(Q)$(PROTOC_C) --c_out=$(OUTPUT)/otlp -Iuser/otlp $<

$(OUTPUT)/otlp/%.pb-c.o: $(OUTPUT)/otlp/%.pb-c.c $(PB_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -Werror,$(ALL_CFLAGS)) -c $< -o $@

$(LIB): $(PB_OBJS)

# The test collector: a real HTTP server (libmicrohttpd) that decodes OTLP.
$(RECEIVER): tests/receiver/otlp-receiver.c $(PB_OBJS) | $(OUTPUT)
	$(call msg,RECEIVER,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(PB_OBJS) -lmicrohttpd -lprotobuf-c -lz -o $@

-include $(USER_OBJS:.o=.d) $(UNIT_BINS:=.d)

# Fixtures for the resolution and USDT tests (test_resolve, test_elf_usdt):
# C++ and Rust symbols to glob over demangled, USDT notes with and without
# semaphores. Debian's rustc (scripts/install-deps.sh) mangles the legacy way.
SPEC_FIXTURES := $(OUTPUT)/fixtures/cxx-prog $(OUTPUT)/fixtures/rust-prog \
		 $(OUTPUT)/fixtures/usdt-prog

unit-bins unit: $(SPEC_FIXTURES)

$(OUTPUT)/fixtures/cxx-prog: tests/fixtures/cxx-prog.cpp | $(OUTPUT)/fixtures
	$(call msg,FIXTURE,$@)
	$(Q)$(CXX) -O1 -g -fno-omit-frame-pointer $< -o $@
$(OUTPUT)/fixtures/rust-prog: tests/fixtures/rust-prog.rs | $(OUTPUT)/fixtures
	$(call msg,FIXTURE,$@)
	$(Q)$(RUSTC) -C opt-level=1 -C debuginfo=1 --crate-name rust_prog $< -o $@
$(OUTPUT)/fixtures/usdt-prog: tests/fixtures/usdt-prog.c tests/fixtures/usdt-sem.c | $(OUTPUT)/fixtures
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) -O1 -g $^ -o $@

# The library of the library-target test (tests/e2e/test_library.py), in a
# directory of its own so that LD_LIBRARY_PATH finds it by name; its loader
# is the worker dlopen-worker.
all: $(OUTPUT)/lib/libttjob.so

$(OUTPUT)/lib:
	$(Q)mkdir -p $@

$(OUTPUT)/lib/libttjob.so: tests/fixtures/libttjob.c | $(OUTPUT)/lib
	$(call msg,LIB,$@)
	$(Q)$(CC) -O1 -g -fno-omit-frame-pointer -fPIC -shared -Wall -Wextra -Werror $< -o $@

# Benchmark helpers (scripts/bench.sh builds them with `make bench-bins`):
# the target worker, the empty uprobe+uretprobe of the floor, the offline
# pipeline bench (the agent's library, no BPF) and an allocation counter.
BENCH := $(OUTPUT)/bench
BENCH_BINS := $(BENCH)/bench-worker $(BENCH)/floor $(BENCH)/bench-pipeline $(BENCH)/malloc-count.so \
	      $(BENCH)/holdmeter $(BENCH)/storemeter $(BENCH)/piecemeter

.PHONY: bench-bins
bench-bins: $(BENCH_BINS)

$(BENCH):
	$(Q)mkdir -p $@

# the same flags as the test workers: a frame, so the probe lands on an emulated push
$(BENCH)/bench-worker: tests/bench/bench-worker.c | $(BENCH)
	$(call msg,WORKER,$@)
	$(Q)$(CC) $(WORKER_CFLAGS) $< -o $@

$(BENCH)/floor.bpf.o: tests/bench/floor.bpf.c | $(BENCH)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH)/floor.skel.h: $(BENCH)/floor.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor_bpf > $@

$(BENCH)/floor: tests/bench/floor.c $(BENCH)/floor.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(BENCH) $(LDFLAGS) $< -lbpf -lelf -lz -o $@

$(BENCH)/holdmeter.bpf.o: tests/bench/holdmeter.bpf.c $(OUTPUT)/vmlinux.h | $(BENCH)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH)/holdmeter.skel.h: $(BENCH)/holdmeter.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name holdmeter_bpf > $@

$(BENCH)/holdmeter: tests/bench/holdmeter.c $(BENCH)/holdmeter.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(BENCH) $< -lbpf -lelf -lz -o $@

# what keeping a call's entry record costs, by store (docs/performance.md)
$(BENCH)/storemeter.bpf.o: tests/bench/storemeter.bpf.c $(OUTPUT)/vmlinux.h | $(BENCH)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH)/storemeter.skel.h: $(BENCH)/storemeter.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name storemeter_bpf > $@

$(BENCH)/storemeter: tests/bench/storemeter.c $(BENCH)/storemeter.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(BENCH) $< -lbpf -lelf -lz -o $@

# what each piece of a compiled entry program costs (docs/performance.md)
$(BENCH)/piecemeter.bpf.o: tests/bench/piecemeter.bpf.c $(OUTPUT)/vmlinux.h | $(BENCH)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH)/piecemeter.skel.h: $(BENCH)/piecemeter.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name piecemeter_bpf > $@

$(BENCH)/piecemeter: tests/bench/piecemeter.c $(BENCH)/piecemeter.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(BENCH) $< -lbpf -lelf -lz -o $@

$(BENCH)/bench-pipeline: tests/bench/bench-pipeline.c $(LIB) | $(BENCH) $(PB_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIB) $(ALL_LDLIBS) -o $@

$(BENCH)/malloc-count.so: tests/bench/malloc-count.c | $(BENCH)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -fPIC -shared $< -o $@

-include $(BENCH)/*.d

# The compiled-versus-interpreted capture test (tests/e2e/test_bpfgen.py): a
# program that attaches every hook of a spec twice, both forms, and compares.
BPFGEN_COMPARE := $(OUTPUT)/tests/bpfgen-compare
unit-bins: $(BPFGEN_COMPARE)
$(BPFGEN_COMPARE): tests/e2e/bpfgen-compare.c $(LIB) | $(PB_H) $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LIB) $(ALL_LDLIBS) -o $@

# The task view's page (user/export/view/), included byte for byte by .incbin.
$(OUTPUT)/user/export/view_assets.o: $(wildcard user/export/view/*)

# ---- sanitizers and fuzzing (tests/fuzz/) ---------------------------------
# The library built twice more: with ASan+UBSan for the unit tests
# (.output/asan/, `make asan-unit`), and with clang's libFuzzer
# instrumentation for the harnesses tests/fuzz/fuzz_*.c (.output/fuzz/).
# `make fuzz` runs each harness FUZZ_TIME seconds on its corpus
# (tests/fuzz/corpus/NAME/, copied, never written); `make check` runs the
# sanitized unit tests and each harness for 30 s (scripts/run-tests.sh).
ASAN := $(OUTPUT)/asan
FUZZ := $(OUTPUT)/fuzz
FUZZ_TIME ?= 30
SAN_CFLAGS = $(filter-out -Werror,$(TT_CFLAGS)) -O1 -g -fno-omit-frame-pointer
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -Wno-unknown-warning-option \
	      -Wno-missing-field-initializers

ASAN_LIB := $(ASAN)/libtasktap.a
FUZZ_LIB := $(FUZZ)/libtasktap.a
ASAN_UNIT_BINS := $(patsubst tests/unit/%.c,$(ASAN)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ)/%,$(FUZZ_SRCS))

.PHONY: asan-unit-bins asan-unit fuzz-bins fuzz sanitized-bins
sanitized-bins: asan-unit-bins fuzz-bins
asan-unit-bins: $(ASAN_UNIT_BINS) $(FIXTURES) $(SPEC_FIXTURES)
fuzz-bins: $(FUZZ_BINS)

asan-unit: asan-unit-bins
	$(Q)scripts/run-unit.sh $(ASAN_UNIT_BINS)

fuzz: fuzz-bins
	$(Q)scripts/fuzz.sh --time $(FUZZ_TIME)

# $(1): output dir, $(2): compiler, $(3): flags
define sanitized_lib
$(1)/obj/user/%.o: user/%.c | $(SKELS) $(PB_H)
	$$(call msg,CC,$$@)
	$(Q)mkdir -p $$(@D) && $(2) $(SAN_CFLAGS) $(3) -c $$< -o $$@
$(1)/obj/otlp/%.pb-c.o: $(OUTPUT)/otlp/%.pb-c.c $(PB_H)
	$$(call msg,CC,$$@)
	$(Q)mkdir -p $$(@D) && $(2) $(SAN_CFLAGS) $(3) -c $$< -o $$@
$(1)/libtasktap.a: $(patsubst $(OUTPUT)/%,$(1)/obj/%,$(LIB_OBJS) $(PB_OBJS))
	$$(call msg,AR,$$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
-include $(patsubst $(OUTPUT)/%.o,$(1)/obj/%.d,$(LIB_OBJS) $(PB_OBJS))
endef
$(eval $(call sanitized_lib,$(ASAN),$(CC),$(ASAN_FLAGS)))
$(eval $(call sanitized_lib,$(FUZZ),$(CLANG),$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link))
$(ASAN)/obj/user/export/view_assets.o $(FUZZ)/obj/user/export/view_assets.o: \
	$(wildcard user/export/view/*)

$(ASAN)/tests/%: tests/unit/%.c $(ASAN_LIB) | $(PB_H)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(SAN_CFLAGS) $(ASAN_FLAGS) $< $(ASAN_LIB) $(ALL_LDLIBS) -lcmocka -o $@

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) | $(PB_H)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(SAN_CFLAGS) $(FUZZ_FLAGS) -Werror -fsanitize=fuzzer $< $(FUZZ_LIB) $(ALL_LDLIBS) -o $@

-include $(ASAN_UNIT_BINS:=.d) $(FUZZ_BINS:=.d)
