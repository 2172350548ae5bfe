# tasklight -- plain Makefile + pkg-config.
#   make                 build libtasklight (static and shared) and tl
#   make run             install missing Debian packages, build, run tl serve
#   make test            install test dependencies, build, run every test
#   make install PREFIX=/usr/local DESTDIR=
#   make man             the man pages, from docs/man/*.scd (scdoc), in build/man
#   make SANITIZE=address,undefined  /  make SANITIZE=thread

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
SANITIZE ?=
PYTHON ?= /usr/bin/python3

LIB_PKGS := libevent jansson sqlite3 libpcre2-8
TL_PKGS := jansson ncursesw
PKG_CONFIG ?= pkg-config

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -fPIC -fvisibility=hidden \
          -Iinclude -Isrc/lib
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIB_PKGS) 2>/dev/null)
LIB_LIBS := $(shell $(PKG_CONFIG) --libs $(LIB_PKGS) 2>/dev/null) -lm
TL_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(TL_PKGS) 2>/dev/null)
TL_LIBS := $(shell $(PKG_CONFIG) --libs $(TL_PKGS) 2>/dev/null)
TEST_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
# tl links its libraries statically (their .a files come with the same -dev
# packages): loading eight shared objects was a third of every `tl add`.
# TL_LINK=shared links them as shared objects instead.
TL_LINK ?= static
ifeq ($(TL_LINK),static)
TL_LINK_LIBS := -Wl,-Bstatic -levent -ljansson -lsqlite3 -lpcre2-8 -lncursesw \
                -ltinfo -Wl,-Bdynamic -lm -ldl -lpthread
else
TL_LINK_LIBS := $(LIB_LIBS) $(TL_LIBS)
endif

LIB_SRC := $(wildcard src/lib/*.c)
LIB_OBJ := $(LIB_SRC:src/lib/%.c=$(BUILD)/lib/%.o)
TL_SRC := $(wildcard src/tl/*.c)
TL_OBJ := $(TL_SRC:src/tl/%.c=$(BUILD)/tl-obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
WEB_FILES := $(wildcard web/*)

MAN_SRC := $(wildcard docs/man/*.scd)
MAN_OUT := $(MAN_SRC:docs/man/%.scd=$(BUILD)/man/%)
SCDOC ?= scdoc
HAVE_SCDOC := $(shell command -v $(SCDOC) 2>/dev/null)

STATIC := $(BUILD)/libtasklight.a
SHARED := $(BUILD)/libtasklight.so.0
TL := $(BUILD)/tl

.PHONY: all run test unit integration install clean deps deps-test format check-format man test-sanitize
all: $(STATIC) $(SHARED) $(TL) $(if $(HAVE_SCDOC),$(MAN_OUT))

$(BUILD)/lib/%.o: src/lib/%.c $(wildcard src/lib/*.h) include/tasklight.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -c $< -o $@

# The dashboard is embedded with .incbin; rebuild when web/ changes.
$(BUILD)/lib/web.o: $(WEB_FILES)

$(BUILD)/tl-obj/%.o: src/tl/%.c $(wildcard src/tl/*.h) include/tasklight.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtasklight.so.0 $(LDFLAGS) -o $@ $^ $(LIB_LIBS)
	ln -sf libtasklight.so.0 $(BUILD)/libtasklight.so

$(TL): $(TL_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TL_OBJ) $(STATIC) $(TL_LINK_LIBS)

# Unit tests link the library and the tool's pure argument parsers.
$(BUILD)/tests/%: tests/unit/%.c $(STATIC) $(BUILD)/tl-obj/args.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -Isrc/tl $(LDFLAGS) -o $@ $< $(BUILD)/tl-obj/args.o $(STATIC) $(LIB_LIBS) $(TEST_LIBS)

# Man pages: scdoc sources in docs/man/NAME.SECTION.scd -> build/man/NAME.SECTION
man: $(MAN_OUT)

$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(@D)
	$(SCDOC) < $< > $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	$(TL) serve $(ARGS)

unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do $$t || rc=1; done; exit $$rc

integration: all
	TL_BIN=$(abspath $(TL)) TL_BUILD_DIR=$(abspath $(BUILD)) TL_SANITIZE=$(SANITIZE) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The unit and integration suites again under ASan+UBSan (any report fails
# them), and the threaded parts (function tasks) under TSan.
SAN_BUILD ?= build/asan
TSAN_BUILD ?= build/tsan
test-sanitize: deps-test
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) SANITIZE=address,undefined all \
	  $(UNIT_BIN:$(BUILD)/%=$(SAN_BUILD)/%)
	@ASAN_OPTIONS=detect_leaks=1 $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) \
	  SANITIZE=address,undefined unit integration
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) SANITIZE=thread \
	  $(TSAN_BUILD)/tests/test_functions $(TSAN_BUILD)/tests/test_manager
	TSAN_OPTIONS=halt_on_error=1 $(TSAN_BUILD)/tests/test_functions
	TSAN_OPTIONS=halt_on_error=1 $(TSAN_BUILD)/tests/test_manager

# Every suite runs even when an earlier one failed; the exit says if any did.
test: deps-test
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@rc=0; for suite in unit integration e2e test-python; do \
	  $(MAKE) --no-print-directory $$suite || { rc=1; echo "make test: $$suite failed"; }; \
	done; exit $$rc

# The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium)
# driven by playwright-core from npm (tests/e2e; no browser download), the
# node test runner. Screenshots go to build/e2e-artifacts/ (not committed).
E2E_DIR := tests/e2e
E2E_TESTS := $(notdir $(wildcard $(E2E_DIR)/*.test.mjs))
E2E_STAMP := $(E2E_DIR)/node_modules/.package-lock.json

$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	cd $(E2E_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

.PHONY: e2e bench-dashboard
e2e: all $(E2E_STAMP)
	cd $(E2E_DIR) && TL_BIN=$(abspath $(TL)) E2E_ARTIFACTS=$(abspath $(BUILD))/e2e-artifacts \
	  node --test --test-concurrency=1 --test-timeout=180000 $(E2E_TESTS)

# The dashboard with 10,000 tasks and 200 tasks updated 5 times a second:
# long tasks and frame times in Chromium (bench/dashboard/README.md).
bench-dashboard: all $(E2E_STAMP)
	TL_BIN=$(abspath $(TL)) node bench/dashboard/bench.mjs $(ARGS)

# The Python client (clients/python) against a live daemon.
.PHONY: test-python
test-python: all
	TL_BIN=$(abspath $(TL)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/python_client

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d \
	  $(DESTDIR)$(PREFIX)/lib/systemd/user
	install -m 0755 $(TL) $(DESTDIR)$(PREFIX)/bin/tl
	install -m 0644 $(filter %.1,$(MAN_OUT)) $(DESTDIR)$(PREFIX)/share/man/man1/
	for n in step note meta result log-line; do \
	  echo '.so man1/tl-progress.1' > $(DESTDIR)$(PREFIX)/share/man/man1/tl-$$n.1; done
	echo '.so man1/tl-track.1' > $(DESTDIR)$(PREFIX)/share/man/man1/tl-done.1
	install -m 0644 completions/tl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tl
	install -m 0644 completions/_tl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_tl
	install -m 0644 completions/tl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tl.fish
	sed -e 's|/usr/local/bin/tl|$(PREFIX)/bin/tl|g' contrib/systemd/tasklight.service \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/user/tasklight.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/user/tasklight.service
	install -m 0644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtasklight.so.0 $(DESTDIR)$(PREFIX)/lib/libtasklight.so
	install -m 0644 include/tasklight.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define TL_VERSION "\(.*\)"/\1/p' include/tasklight.h)|g' \
	  tasklight.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tasklight.pc

format:
	clang-format -i include/*.h src/lib/*.[ch] src/tl/*.[ch] tests/unit/*.c

check-format:
	clang-format --dry-run --Werror include/*.h src/lib/*.[ch] src/tl/*.[ch] tests/unit/*.c

clean:
	rm -rf $(BUILD)

# The ETA estimator against synthetic and recorded progress traces.
.PHONY: bench-eta
bench-eta: $(BUILD)/bench/eta_bench
	$(BUILD)/bench/eta_bench bench/eta/traces

$(BUILD)/bench/eta_bench: bench/eta/eta_bench.c src/lib/eta.c src/lib/eta.h include/tasklight.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/eta/eta_bench.c src/lib/eta.c -lm

# tasklight against task-spooler, nq, BullMQ, graphile-worker, Celery and the
# seed design, measured in one run on this machine (bench/run.sh; installs the
# peers it needs, starts their servers on loopback and stops them), on the tl
# and libtasklight.a of $(BUILD). Tables in bench/results/latest/.
.PHONY: bench bench-quick
bench: all
	TL_BUILD_DIR=$(abspath $(BUILD)) bench/run.sh

bench-quick: all
	TL_BUILD_DIR=$(abspath $(BUILD)) bench/run.sh --quick

# Function tasks: the cost of a progress report (ns per call; run under
# valgrind --tool=callgrind for instructions).
$(BUILD)/bench/ctx_progress: bench/ctx_progress.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIB_LIBS) -lpthread

bench-ctx: $(BUILD)/bench/ctx_progress
	@for i in 1 2 3; do $(BUILD)/bench/ctx_progress; done

# The examples build against the library as installed, with pkg-config.
examples: all
	@rm -rf $(BUILD)/stage && $(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD)/stage) PREFIX=/usr >/dev/null
	@for e in examples/*.c; do \
	  PKG_CONFIG_PATH=$(abspath $(BUILD)/stage)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(abspath $(BUILD)/stage) \
	  $(CC) -std=c11 -Wall -Wextra -Werror $$e -o $(BUILD)/$$(basename $$e .c) \
	    $$(PKG_CONFIG_PATH=$(abspath $(BUILD)/stage)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(abspath $(BUILD)/stage) $(PKG_CONFIG) --cflags --libs --static tasklight) || exit 1; \
	  echo "built $(BUILD)/$$(basename $$e .c)"; done

# libFuzzer targets (tests/fuzz/): clang with -fsanitize=fuzzer,address,
# undefined; the library is compiled again with coverage into build/fuzz.
#   make fuzz FUZZ_SECONDS=N   each target for N s (default 60)
#   make fuzz-smoke            each target for 10 s (CI)
# Any crash, leak, sanitizer report or timeout fails; tests/fuzz/run.sh
# prints executions and coverage per target.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_TARGETS := fuzz_http fuzz_sse fuzz_progress fuzz_redact
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all \
              -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc/lib
FUZZ_LIB_OBJ := $(LIB_SRC:src/lib/%.c=$(FUZZ_BUILD)/lib/%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-cc
fuzz-build: $(FUZZ_BIN)

fuzz-cc:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: $(FUZZ_CC) not found;" \
	  "apt-get install clang (libclang-rt-14-dev has libFuzzer)" >&2; exit 1; }

$(FUZZ_BUILD)/lib/%.o: src/lib/%.c $(wildcard src/lib/*.h) include/tasklight.h | fuzz-cc
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(LIB_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/lib/web.o: $(WEB_FILES)

$(FUZZ_BUILD)/fuzz_progress: tests/fuzz/fuzz_progress.c $(FUZZ_BUILD)/lib/progress.o
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(LIB_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_redact: tests/fuzz/fuzz_redact.c $(FUZZ_BUILD)/lib/redact.o
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(LIB_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_http $(FUZZ_BUILD)/fuzz_sse: $(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz_server.c tests/fuzz/fuzz_server.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(LIB_CFLAGS) $(filter %.c %.o,$^) $(LIB_LIBS) -o $@

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	FUZZ_FRESH=1 tests/fuzz/run.sh $(FUZZ_BUILD) 10 $(FUZZ_TARGETS)
