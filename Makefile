# tasklight -- plain Makefile + pkg-config.
#   make                 build libtasklight (static and shared) and tl
#   make run             install missing Debian packages, build, run tl serve
#   make test            install test dependencies, build, run every test
#   make install PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined  /  make SANITIZE=thread

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
SANITIZE ?=
PYTHON ?= /usr/bin/python3

LIB_PKGS := libevent jansson sqlite3 libpcre2-8
TL_PKGS := libcurl jansson
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

LIB_SRC := $(wildcard src/lib/*.c)
LIB_OBJ := $(LIB_SRC:src/lib/%.c=$(BUILD)/lib/%.o)
TL_SRC := $(wildcard src/tl/*.c)
TL_OBJ := $(TL_SRC:src/tl/%.c=$(BUILD)/tl-obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
WEB_FILES := $(wildcard web/*)

STATIC := $(BUILD)/libtasklight.a
SHARED := $(BUILD)/libtasklight.so.0
TL := $(BUILD)/tl

.PHONY: all run test unit integration install clean deps deps-test format check-format
all: $(STATIC) $(SHARED) $(TL)

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
	$(CC) $(LDFLAGS) -o $@ $(TL_OBJ) $(STATIC) $(LIB_LIBS) $(TL_LIBS)

# Unit tests link the library and the tool's pure argument parsers.
$(BUILD)/tests/%: tests/unit/%.c $(STATIC) $(BUILD)/tl-obj/args.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -Isrc/tl $(LDFLAGS) -o $@ $< $(BUILD)/tl-obj/args.o $(STATIC) $(LIB_LIBS) $(TEST_LIBS)

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
	TL_BIN=$(abspath $(TL)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

test: deps-test
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(TL) $(DESTDIR)$(PREFIX)/bin/tl
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
