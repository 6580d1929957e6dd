# reconciler — GitOps reconciler for Docker.  See README.md.
#
#   make              build ./reconciler (release flags)
#   make test         deps, sanitizer build, unit + integration tests (what CI runs)
#   make example      deps, build, ensure a Docker engine, converge examples/, show status
#   make fuzz         libFuzzer targets (FUZZ_SECONDS per target, default 60)
#   make bench        benchmarks in tests/bench (figures go to docs/performance.md)
#   make bench-host   the host-scale rollout against docker-compose and the raw engine
#   make bench-isolation  what tenant isolation costs at N customers (BENCH_ISO_N)
#   make soak         the daemon under hand-made trouble (SOAK_SECONDS, default 300)
#   make test-cluster Swarm scenarios on three engines in network namespaces (tests/cluster; not in test)
#   make install      PREFIX=/usr/local DESTDIR= (binary, man page, systemd unit in SYSTEMD_UNIT_DIR)
#   make golden       regenerate golden files for review (git diff them)
#   make check-layers no module includes a higher layer's header (tests/lib/check-layers.sh)

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
PKGS    := libgit2 yaml-0.1 libcurl libcjson libxxhash libcrypto libmicrohttpd libsystemd

# pkg-config's answers; a missing package stops the build in pkg-check (below), naming it
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# header dependencies: each object's .d (written by the compiler) lists the headers it read
DEPFLAGS := -MMD -MP

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wpointer-arith -Wcast-qual -Wno-unused-parameter
CSTD    := -std=c17 -D_GNU_SOURCE
OPT     ?= -O2 -g
# BUILD=test: sanitizers, warnings fatal (what `make test` uses)
ifeq ($(BUILD),test)
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  WERROR := -Werror
  LDSAN  := -fsanitize=address,undefined
  OUT    := build/test
else
  OUT    := build
endif

CFLAGS_ALL := $(CSTD) $(WARN) $(WERROR) $(OPT) $(PKG_CFLAGS) -Ireconciler $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lpthread $(LDLIBS)

LIB_SRC  := $(filter-out reconciler/main.c,$(wildcard reconciler/*.c))
LIB_OBJ  := $(LIB_SRC:reconciler/%.c=$(OUT)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/t-*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/unit/%.t)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(OUT)/helpers/%)

#
.PHONY: all test test-cluster unit integration deps example fuzz fuzz-build bench bench-host bench-isolation install clean golden check-build soak \
	pkg-check check-layers
# The binary is build/reconciler (build/test/reconciler for the sanitizer build).
all: $(OUT)/reconciler

# Every object depends on the headers it includes (its .d) and on this Makefile (the flags).
$(OUT)/obj/%.o: reconciler/%.c Makefile | $(OUT)/obj pkg-check
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

$(OUT)/lib.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(OUT)/reconciler: $(OUT)/obj/main.o $(OUT)/lib.a
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(OUT)/unit/%.t: tests/unit/%.c Makefile $(OUT)/lib.a | $(OUT)/unit
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -MF $(@:.t=.d) -MT $@ -Itests/unit $(LDSAN) $(LDFLAGS) -o $@ $< $(OUT)/lib.a $(LDLIBS_ALL)

$(OUT)/helpers/%: tests/helpers/%.c Makefile $(OUT)/lib.a | $(OUT)/helpers
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -MF $@.d -MT $@ -Itests/unit $(LDSAN) $(LDFLAGS) -o $@ $< $(OUT)/lib.a $(LDLIBS_ALL)

$(OUT)/obj $(OUT)/unit $(OUT)/helpers:
	mkdir -p $@

-include $(wildcard $(OUT)/obj/*.d $(OUT)/unit/*.d $(OUT)/helpers/*.d)

# Stop with the names of the missing packages rather than compile with empty flags.
pkg-check:
	@command -v pkg-config >/dev/null 2>&1 || { echo "pkg-config is not installed (make deps)" >&2; exit 1; }; \
	missing=; for p in $(PKGS); do pkg-config --exists $$p || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "pkg-config cannot find:$$missing (make deps installs them; PKG_CONFIG_PATH='$${PKG_CONFIG_PATH:-}')" >&2; \
		exit 1; \
	fi

# No module includes a header of a higher layer; third-party headers stay in their modules.
check-layers:
	@sh tests/lib/check-layers.sh

check-build: $(OUT)/reconciler $(UNIT_BIN) $(HELPER_BIN)

deps:
	@sh tests/lib/deps.sh

# The whole suite: what .ci/run calls.
test: deps check-layers
	$(MAKE) -j2 BUILD=test check-build
	$(MAKE) -j2 fuzz-build
	sh tests/lib/run-tests.sh

# Swarm scenarios on three engines in network namespaces (tests/cluster/*.sh,
# tests/lib/cluster.sh; root, not part of test).  One script at a time: each
# runs three dockerds.
test-cluster: deps
	$(MAKE) -j2 BUILD=test check-build
	TEST_JOBS=$${TEST_JOBS:-1} sh tests/lib/run-tests.sh tests/cluster

unit:
	$(MAKE) BUILD=test check-build
	prove --exec '' build/test/unit/*.t

integration:
	$(MAKE) BUILD=test check-build
	sh tests/lib/run-tests.sh tests/t/*.sh

example: deps
	$(MAKE) all
	sh tests/lib/example.sh

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := $(CSTD) -O1 -g -fno-sanitize-recover=all $(PKG_CFLAGS) -Ireconciler
FUZZ_OBJ := $(LIB_SRC:reconciler/%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: reconciler/%.c Makefile | pkg-check
	@mkdir -p build/fuzz/obj
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build/fuzz/lib.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c Makefile build/fuzz/lib.a
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ -fsanitize=fuzzer,address,undefined -o $@ $< build/fuzz/lib.a $(LDLIBS_ALL)
-include $(wildcard build/fuzz/obj/*.d build/fuzz/*.d)
fuzz-build: $(FUZZ_BIN)
fuzz: fuzz-build
	sh tests/lib/fuzz.sh $(FUZZ_SECONDS)

# The daemon under hand-made trouble for SOAK_SECONDS (sanitizer build; not part of test).
SOAK_SECONDS ?= 300
soak: deps
	$(MAKE) -j2 BUILD=test check-build
	SOAK_SECONDS=$(SOAK_SECONDS) sh tests/lib/run-tests.sh tests/soak/t-soak.sh

bench: all
	sh tests/bench/run.sh

# Host-scale rollout against docker-compose and the raw engine (on demand; BENCH_HOST_N, default "50 200").
bench-host: all
	sh tests/bench/host.sh all

# What tenant isolation costs (link networks) against customers on their own networks only (BENCH_ISO_N, default 200).
bench-isolation: all
	sh tests/bench/isolation.sh

golden:
	$(MAKE) BUILD=test check-build
	GOLDEN_UPDATE=1 sh tests/lib/run-tests.sh tests/t/*golden*.sh

SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
install: $(OUT)/reconciler
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(SYSTEMD_UNIT_DIR) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(OUT)/reconciler $(DESTDIR)$(PREFIX)/bin/reconciler
	install -m 0644 docs/reconciler.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/reconciler
	if [ -f docs/reconciler.1 ]; then install -m 0644 docs/reconciler.1 $(DESTDIR)$(PREFIX)/share/man/man1/; fi
	sed 's|@BINDIR@|$(PREFIX)/bin|g' docs/reconciler.service >$(DESTDIR)$(SYSTEMD_UNIT_DIR)/reconciler.service.tmp && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/reconciler.service.tmp && \
		mv $(DESTDIR)$(SYSTEMD_UNIT_DIR)/reconciler.service.tmp $(DESTDIR)$(SYSTEMD_UNIT_DIR)/reconciler.service

clean:
	rm -rf build
