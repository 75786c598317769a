# tokmeter — the front door.
#
#   make run     install missing Debian packages, build, start `tokmeter serve`
#   make test    the same set-up, then every test (also under ASan + UBSan)
#   make install the binary, library, header, pkg-config file and man page
#                under PREFIX (default /usr/local), staged under DESTDIR
#   make bench   benchmarks (not part of CI)
#   make fuzz    each libFuzzer target for FUZZ_SECONDS (default 300) seconds
#   make soak    1,000 power cuts and the daemon soak (SOAK_SECONDS, default 3600)
#
# Everything is built under build/: build/tokmeter, build/libtokmeter.a (the
# embeddable core: event, price, rollup, store, query, policy and the public
# calls), build/libtmserve.a (the daemon and the importers, built on it),
# build/tokmeter.pc and build/tokmeter.1 (installed with them), and
# build/asan/ for the sanitizer build of the library and unit tests.

PKGS     := sqlite3 yajl libmicrohttpd libsodium libcurl libpq hiredis
# What libtokmeter.a alone needs (an embedding program links these, not libmicrohttpd).
CORE_PKGS := sqlite3 yajl libsodium libcurl libpq hiredis
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
BASE     := -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) -MMD -MP
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
# Only the tokmeter program draws charts (tokmeter graph), so only it links
# Cairo (and fontconfig, to free its caches); libtokmeter.a and the unit
# tests build without them.
CLI_PKGS := cairo fontconfig
CLICFLAGS = $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
CLILIBS   = $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(wildcard src/core/*.c src/price/*.c src/rollup/*.c src/store/*.c src/query/*.c src/policy/*.c src/lib/*.c)
SRV_SRC  := $(wildcard src/server/*.c src/ingest/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
BENCH_SRC:= $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=build/obj/%.o) build/obj/gen/prices_data.o
SRV_OBJ  := $(SRV_SRC:%.c=build/obj/%.o) build/obj/gen/openapi_data.o
CLI_OBJ  := $(CLI_SRC:%.c=build/obj/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=build/obj/%.o)
ASAN_LIB := $(LIB_SRC:%.c=build/asan/%.o) $(SRV_SRC:%.c=build/asan/%.o) build/obj/gen/prices_data.o \
            build/obj/gen/openapi_data.o
ASAN_UNIT:= $(UNIT_SRC:%.c=build/asan/%.o)
ASAN_CLI := $(CLI_SRC:%.c=build/asan/%.o)

TESTHELP := build/tm_crashwriter build/gen_claude

PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION   = $(shell sed -n 's/^\#define TM_VERSION "\(.*\)"/\1/p' include/tokmeter.h)

.PHONY: all deps layers run test unit unit-pg unit-asan cli-test bench clean fmt install build/tokmeter.pc fuzz fuzz-test fault-test soak
all: build/tokmeter build/tokmeter.pc build/tokmeter.1

deps:
	@sh scripts/deps.sh

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE) $(CFLAGS) $(PKGCFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE) -O1 -g $(SAN) $(PKGCFLAGS) -c $< -o $@

build/obj/src/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE) $(CFLAGS) $(PKGCFLAGS) $(CLICFLAGS) -c $< -o $@

build/asan/src/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(BASE) -O1 -g $(SAN) $(PKGCFLAGS) $(CLICFLAGS) -c $< -o $@

# The built-in price catalog is data (data/prices.json), compiled in as bytes.
build/gen/prices_data.c: data/prices.json
	@mkdir -p $(dir $@)
	@{ echo '/* generated from data/prices.json by the Makefile; do not edit */'; \
	  echo 'const unsigned char tm__prices_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; \
	  echo 'const unsigned long tm__prices_json_len = sizeof tm__prices_json - 1;'; } > $@

build/obj/gen/prices_data.o: build/gen/prices_data.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

# The web dashboard (web/): npm ci from the committed lock, esbuild bundles
# web/src into build/web, and the files are compiled in as bytes, linked
# into the tokmeter binary only (libtokmeter.a builds without Node.js).
WEB_SRC  := $(wildcard web/src/*)
WEB_OUT  := build/web/index.html build/web/app.js build/web/app.css

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	@command -v npm >/dev/null || { echo "the dashboard is built with Node.js and npm: sh scripts/deps.sh installs them"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build/web/app.js: $(WEB_SRC) web/node_modules/.package-lock.json
	@mkdir -p build/web
	web/node_modules/.bin/esbuild web/src/app.js --bundle --minify --target=es2020 \
	  --log-level=warning --outfile=build/web/app.js
build/web/app.css: build/web/app.js
	@test -f $@

build/web/index.html: web/index.html
	@mkdir -p build/web
	cp $< $@

build/gen/web_assets.c: $(WEB_OUT) scripts/embed_web.sh
	@mkdir -p $(dir $@)
	sh scripts/embed_web.sh $@ $(WEB_OUT)

build/obj/gen/web_assets.o: build/gen/web_assets.c src/server/web.h
	@mkdir -p $(dir $@)
	$(CC) -I. -c $< -o $@

# The daemon serves docs/openapi.yaml at GET /openapi.yaml: compiled in too.
build/gen/openapi_data.c: docs/openapi.yaml
	@mkdir -p $(dir $@)
	@{ echo '/* generated from docs/openapi.yaml by the Makefile; do not edit */'; \
	  echo 'const unsigned char tm__openapi_yaml[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; \
	  echo 'const unsigned long tm__openapi_yaml_len = sizeof tm__openapi_yaml - 1;'; } > $@

build/obj/gen/openapi_data.o: build/gen/openapi_data.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

# pkg-config for libtokmeter.a: a static library, so Libs names what it
# links against too (Requires.private gives the same to --static users).
# Always written afresh: it holds PREFIX.
build/tokmeter.pc:
	@mkdir -p $(dir $@); rm -f $@
	@printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' 'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: tokmeter' \
	  'Description: usage and cost tracking for LLM APIs (static library)' \
	  'Version: $(VERSION)' 'Requires.private: $(CORE_PKGS)' \
	  'Libs: -L$${libdir} -ltokmeter $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lpthread -lm' \
	  'Cflags: -I$${includedir}' > $@

# The man page is the binary's own --help texts (scripts/man.sh).
build/tokmeter.1: build/tokmeter scripts/man.sh
	@rm -f $@
	sh scripts/man.sh build/tokmeter > $@

build/libtokmeter.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/libtmserve.a: $(SRV_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/tokmeter: $(CLI_OBJ) build/libtmserve.a build/libtokmeter.a build/obj/gen/web_assets.o
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) build/obj/gen/web_assets.o build/libtmserve.a build/libtokmeter.a $(CLILIBS) $(PKGLIBS)

build/asan/tokmeter: $(ASAN_CLI) $(ASAN_LIB) build/obj/gen/web_assets.o
	$(CC) -g $(SAN) -o $@ $^ $(CLILIBS) $(PKGLIBS)

build/test_unit: $(UNIT_OBJ) build/libtmserve.a build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $(UNIT_OBJ) build/libtmserve.a build/libtokmeter.a $(PKGLIBS) -lcriterion

build/asan/test_unit: $(ASAN_UNIT) $(ASAN_LIB)
	$(CC) -g $(SAN) -o $@ $^ $(PKGLIBS) -lcriterion

build/tm_crashwriter: build/obj/tests/helpers/crashwriter.o build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

# The power-cut test: its VFS shim is linked here only, never into the library.
build/tm_powercut: build/obj/tests/fault/powercut.o build/obj/tests/fault/powerloss_vfs.o build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

build/tm_nomem: build/obj/tests/fault/nomem.o build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS) -lfiu

build/gen_claude: tests/helpers/gen_claude.c
	$(CC) $(BASE) $(CFLAGS) -o $@ $<

# Fuzzing (fuzz/, docs/testing.md): clang's libFuzzer with ASan and UBSan.
# The library is built again with clang under build/fuzz/; each target is one
# file in fuzz/. The HTTP target includes src/server/http.c itself, so the
# archive's http.o is never pulled in beside it.
FUZZ_CC      := clang-14
FUZZ_FLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_TARGETS := event_json http query prices config claude_code codex opencode
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 4
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o) $(SRV_SRC:%.c=build/fuzz/obj/%.o) build/obj/gen/prices_data.o \
                build/obj/gen/openapi_data.o

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC $<"; $(FUZZ_CC) $(BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKGCFLAGS) -c $< -o $@

.SECONDARY: $(FUZZ_TARGETS:%=build/fuzz/obj/fuzz/%.o)

build/fuzz/libtokmeter.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%: build/fuzz/obj/fuzz/%.o build/fuzz/libtokmeter.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKGLIBS)

fuzz: deps
	@$(MAKE) --no-print-directory -j2 $(FUZZ_TARGETS:%=build/fuzz/%)
	@sh scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-test: $(FUZZ_TARGETS:%=build/fuzz/%)
	@sh scripts/fuzz.sh $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)

# Fault injection and power cuts (tests/fault/, docs/testing.md): a short
# loop in `make test`; `make soak` runs 1,000 power cuts and the daemon soak
# for SOAK_SECONDS (default 3600).
FAULT_TESTS := powercut faults
fault-test: build/tokmeter build/tm_powercut build/tm_nomem
	@failed=; for t in $(FAULT_TESTS); do echo "sh tests/fault/$$t.sh"; \
	  sh tests/fault/$$t.sh || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "fault-test: failed:$$failed"; exit 1; fi

soak: deps
	@$(MAKE) --no-print-directory -j2 build/tokmeter build/tm_powercut
	POWERCUT_CYCLES=$${POWERCUT_CYCLES:-1000} FAULT_CYCLES=$${FAULT_CYCLES:-600} sh tests/fault/powercut.sh
	SOAK_SECONDS=$${SOAK_SECONDS:-3600} sh bench/soak.sh

# The side-by-side benchmark also links libpq (installed by scripts/bench-deps.sh).
build/obj/bench/compare.o: bench/compare.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(PKGCFLAGS) $(shell pkg-config --cflags libpq) -c $< -o $@

build/bench_compare: build/obj/bench/compare.o build/libtmserve.a build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS) $(shell pkg-config --libs libpq)

build/bench_%: build/obj/bench/%.o build/libtmserve.a build/libtokmeter.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

run: deps
	@$(MAKE) --no-print-directory -j2 build/tokmeter
	./build/tokmeter serve

install: build/tokmeter build/libtokmeter.a build/tokmeter.pc build/tokmeter.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 build/tokmeter $(DESTDIR)$(PREFIX)/bin/tokmeter
	install -m 644 include/tokmeter.h $(DESTDIR)$(PREFIX)/include/tokmeter.h
	install -m 644 build/libtokmeter.a $(DESTDIR)$(PREFIX)/lib/libtokmeter.a
	install -m 644 build/tokmeter.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/tokmeter.pc
	install -m 644 build/tokmeter.1 $(DESTDIR)$(PREFIX)/share/man/man1/tokmeter.1

unit: build/test_unit
	./build/test_unit --jobs 2

# The same unit tests against PostgreSQL: a throwaway PostgreSQL 15 on
# loopback (scripts/pg.sh), each test in its own schema
# (tests/unit/store_helper.h). Only the suites that open a store run again.
unit-pg: build/test_unit
	sh scripts/pg.sh run sh -c 'TOKMETER_TEST_STORE=$$TOKMETER_PG_URL ./build/test_unit --jobs 2 --filter "@(store|query|policy|ingest|export)/*"'

# Sanitizer runs: Criterion forks each test; ASan's leak checker is on.
unit-asan: build/asan/test_unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./build/asan/test_unit --jobs 2

# Every script runs even when one fails; the failures are listed at the end.
CLI_TESTS := run daemon guard limits alerts collect import ccusage messages install graph export policy shared proxy web store redis multi on_pg writepath
cli-test: build/tokmeter build/asan/tokmeter $(TESTHELP)
	@failed=; for t in $(CLI_TESTS); do echo "sh tests/cli/$$t.sh"; \
	  sh tests/cli/$$t.sh || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "cli-test: failed:$$failed"; exit 1; fi

# The include graph points down (core < price, rollup < store < query <
# policy < lib < ingest, server < cli) and has no cycle.
layers:
	python3 scripts/check-layers.py

test: deps layers
	@$(MAKE) --no-print-directory -j2 build/tokmeter build/test_unit build/asan/test_unit build/asan/tokmeter $(TESTHELP) \
	  build/tm_powercut build/tm_nomem $(FUZZ_TARGETS:%=build/fuzz/%)
	@$(MAKE) --no-print-directory unit unit-pg unit-asan cli-test fuzz-test fault-test

bench: deps
	@sh scripts/bench-deps.sh
	@$(MAKE) --no-print-directory $(BENCH_SRC:bench/%.c=build/bench_%) build/tokmeter build/gen_claude
	QUICK=$(QUICK) sh bench/run.sh

fmt:
	clang-format -i $(LIB_SRC) $(SRV_SRC) $(CLI_SRC) $(UNIT_SRC) include/*.h src/*/*.h

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
