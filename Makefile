# valetkey -- plain Makefile with pkg-config. Two commands matter:
#   make run    install missing Debian packages, build, start the server on ./valetkey-data
#   make test   build and run every test (unit, integration, sanitizers, fuzz corpus replay)
# Build variants live side by side: build/ (release-ish, -O2) and build/asan/ (ASan+UBSan).

CC      ?= cc
BUILD   ?= build
PKGS    := libmicrohttpd gnutls libcrypto jansson sqlite3 libcurl inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -largon2 -lpthread

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wformat=2 -Wformat-security -Wvla -Wpointer-arith -Wundef \
        -Wimplicit-fallthrough -Wno-unused-parameter
HARDEN := -fno-common -fstack-protector-strong -fPIE
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Iinclude $(WARN) $(HARDEN)
OPT     ?= -O2 -g -D_FORTIFY_SOURCE=2
SAN     ?=
CFLAGS_ALL = $(CFLAGS_BASE) $(OPT) $(SAN) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)

# Every module except main.c goes into one static archive; the binary and the tests link it.
CORE_SRC := $(sort $(wildcard src/base/*.c src/jose/*.c src/http/*.c src/store/*.c src/grant/*.c \
              src/token/*.c src/auth/*.c src/ui/*.c src/config/*.c src/oauth/*.c src/cli/*.c \
              src/verify/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))

# libvaletkey: base/, jose/ and verify/ only (no libmicrohttpd, SQLite, argon2), compiled again
# with -fPIC and -fvisibility=hidden so that only VALETKEY_API functions are exported. base/ is
# listed file by file: base/log.c stays out (its buffered mode starts a thread, and nothing in
# the library logs), and a new base/ file joins the library only when someone says so (ip.c:
# jose/x509.c matches iPAddress subjectAltNames).
LIB_VERSION := 0.1.0
LIB_SONAME  := libvaletkey.so.0
LIB_PKGS    := libcrypto jansson libcurl
LIB_BASE := arena b64url buf clock crypto err ip mem siphash str
LIB_SRC := $(LIB_BASE:%=src/base/%.c) $(sort $(wildcard src/jose/*.c src/verify/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
LIB_CFLAGS = $(filter-out -fPIE,$(CFLAGS_ALL)) -fPIC -fvisibility=hidden
LIB_LIBS := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) -lpthread
LIB_OUT := $(BUILD)/libvaletkey.so.$(LIB_VERSION) $(BUILD)/libvaletkey.so $(BUILD)/libvaletkey.a \
           $(BUILD)/valetkey.pc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit integration browser asan tsan fuzz-replay fuzz bench bench-verify deps \
        deps-test clean check-layers lib install examples nginx-module

all: $(BUILD)/valetkey lib examples

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# SQL migrations are compiled in, so the binary needs no files beside it.
$(BUILD)/gen/migrations.h: $(MIGRATIONS) scripts/embed-migrations.sh
	@mkdir -p $(dir $@)
	scripts/embed-migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/src/store/sqlite_conn.o: $(BUILD)/gen/migrations.h
$(BUILD)/src/store/sqlite_conn.o: CFLAGS_ALL += -I$(BUILD)/gen

$(BUILD)/libvkcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/valetkey: $(BUILD)/src/main.o $(BUILD)/libvkcore.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC (lib) $<"
	@$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

lib: $(LIB_OUT)

# -z defs: every symbol the library uses must come from its own objects or its declared
# dependencies, so a missing piece (or a stray call into the server's modules) fails here. Not
# in sanitizer builds, whose runtime the executable provides.
$(BUILD)/libvaletkey.so.$(LIB_VERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) $(if $(SAN),,-Wl,-z,defs) -Wl,-z,relro,-z,now \
	    $(SAN) $(LDFLAGS) \
	    -o $@ $^ $(LIB_LIBS)

$(BUILD)/libvaletkey.so: $(BUILD)/libvaletkey.so.$(LIB_VERSION)
	ln -sf libvaletkey.so.$(LIB_VERSION) $(BUILD)/$(LIB_SONAME)
	ln -sf libvaletkey.so.$(LIB_VERSION) $@

# The static library is one relocatable object whose hidden symbols are made local, so a program
# linking libvaletkey.a sees only the valetkey_ functions too and cannot clash with our vk_ names.
$(BUILD)/libvaletkey.a: $(LIB_OBJ)
	@rm -f $@ $(BUILD)/pic/valetkey-all.o
	ld -r -o $(BUILD)/pic/valetkey-all.o $^
	objcopy --localize-hidden $(BUILD)/pic/valetkey-all.o
	ar rcs $@ $(BUILD)/pic/valetkey-all.o

# build/valetkey.pc points into this tree (PKG_CONFIG_PATH=build pkg-config valetkey);
# `make install` writes one for PREFIX.
define VALETKEY_PC
prefix=$(1)
libdir=$(2)
includedir=$(3)

Name: valetkey
Description: OAuth 2.1 access-token and DPoP verification for resource servers
Version: $(LIB_VERSION)
URL: https://github.com/valetkey/valetkey
Requires.private: $(LIB_PKGS)
Libs: -L$${libdir} -lvaletkey
Libs.private: -lpthread
Cflags: -I$${includedir}
endef
export VALETKEY_PC

$(BUILD)/valetkey.pc: Makefile
	@mkdir -p $(dir $@)
	$(file >$@,$(call VALETKEY_PC,$(abspath .),$(abspath $(BUILD)),$(abspath include)))

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 include/valetkey.h $(DESTDIR)$(INCLUDEDIR)/valetkey.h
	install -m 0755 $(BUILD)/libvaletkey.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvaletkey.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf libvaletkey.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/libvaletkey.so
	install -m 0644 $(BUILD)/libvaletkey.a $(DESTDIR)$(LIBDIR)/
	$(file >$(BUILD)/valetkey-install.pc,$(call VALETKEY_PC,$(PREFIX),$(LIBDIR),$(INCLUDEDIR)))
	install -m 0644 $(BUILD)/valetkey-install.pc $(DESTDIR)$(LIBDIR)/pkgconfig/valetkey.pc

# The example API server, built the way a user would build it: with pkg-config against
# build/valetkey.pc (and an rpath to build/, since the library is not installed).
EXAMPLE_PC = PKG_CONFIG_PATH=$(abspath $(BUILD)) pkg-config
$(BUILD)/examples/api_server: examples/api_server.c $(BUILD)/libvaletkey.so $(BUILD)/valetkey.pc
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) $(OPT) $(SAN) $$($(EXAMPLE_PC) --cflags valetkey libmicrohttpd) \
	    -o $@ $< $$($(EXAMPLE_PC) --libs valetkey libmicrohttpd) -Wl,-rpath,$(abspath $(BUILD))

examples: $(BUILD)/examples/api_server

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvkcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DVK_SOURCE_DIR='"$(abspath .)"' $(shell pkg-config --cflags cmocka) \
	    -o $@ $< $(BUILD)/libvkcore.a \
	    $(LDFLAGS_ALL) $(shell pkg-config --libs cmocka) $(PKG_LIBS)

# The nginx module's URL builder is plain C (nginx/ngx_http_valetkey_url.c): tested on its own.
$(BUILD)/tests/test_nginx_url: tests/unit/test_nginx_url.c nginx/ngx_http_valetkey_url.c \
        nginx/ngx_http_valetkey_url.h $(BUILD)/libvkcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< nginx/ngx_http_valetkey_url.c \
	    $(BUILD)/libvkcore.a $(LDFLAGS_ALL) $(shell pkg-config --libs cmocka) $(PKG_LIBS)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

# A test-only preload that makes the data directory's disk look full (tests/lib/fault_disk_full.c).
# Never linked into anything, and built without sanitizers: it only forwards system calls.
$(BUILD)/tests/libvkfault.so: tests/lib/fault_disk_full.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -shared -fPIC -o $@ $< -ldl

# ngx_http_valetkey_module.so for Debian's stock nginx (nginx/, docs/nginx.md), built with
# nginx's own configure from nginx-dev's tree, libvaletkey linked in statically.
NGINX_MODULE := $(BUILD)/nginx/ngx_http_valetkey_module.so
$(NGINX_MODULE): nginx/config $(wildcard nginx/*.c nginx/*.h) $(BUILD)/libvaletkey.a \
        scripts/build-nginx-module.sh
	@scripts/build-nginx-module.sh $(BUILD) "$(CC)" "$(SAN)"

nginx-module: $(NGINX_MODULE)

# Under sanitizers the stock nginx runs the module with the sanitizer runtime preloaded.
NGINX_PRELOAD = $(if $(SAN),$(shell $(CC) -print-file-name=libclang_rt.asan-x86_64.so))

integration: $(BUILD)/valetkey $(BUILD)/examples/api_server $(BUILD)/tests/libvkfault.so \
        $(NGINX_MODULE)
	@VALETKEY_BIN=$(abspath $(BUILD)/valetkey) \
	    VALETKEY_EXAMPLE_BIN=$(abspath $(BUILD)/examples/api_server) \
	    VALETKEY_NGINX_MODULE=$(abspath $(NGINX_MODULE)) VALETKEY_NGINX_PRELOAD=$(NGINX_PRELOAD) \
	    tests/integration/run.sh

# Login, consent and the code flow in headless Chromium (Debian's), driven by playwright-core.
browser: $(BUILD)/valetkey
	@VALETKEY_BIN=$(abspath $(BUILD)/valetkey) tests/browser/run.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/valetkey serve

# The everyday loop under sanitizers: same sources, separate objects.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    unit integration browser

# The verifier's caches, revocations and key-set swaps under ThreadSanitizer (clang). Only the
# library's tests: the server's worker threads get their own run when they need one.
TSAN_TESTS := test_verify_threads test_verify_token test_verify_dpop test_verify_fetch \
              test_verify_revfeed
tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang OPT="-O1 -g" SAN="-fsanitize=thread" \
	    $(TSAN_TESTS:%=build/tsan/tests/%)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	    scripts/run-unit.sh $(TSAN_TESTS:%=build/tsan/tests/%)

fuzz-replay:
	@tests/fuzz/build.sh replay

fuzz:
	@tests/fuzz/build.sh fuzz

test: deps-test
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory tsan
	@$(MAKE) --no-print-directory fuzz-replay
	@echo "make test: all suites passed"

check-layers: lib
	@scripts/check-layers.sh
	@scripts/check-banned.sh
	@scripts/check-symbols.sh $(BUILD)
	@scripts/check-migrations.sh

bench: all
	bench/run

# libvaletkey's rates (bench/verify runs openssl speed first and prints the ratio table).
$(BUILD)/bench/bench_verify: bench/bench_verify.c $(BUILD)/libvkcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libvkcore.a $(LDFLAGS_ALL) $(PKG_LIBS)

bench-verify:
	@BUILD=$(abspath $(BUILD)) bench/verify

clean:
	rm -rf build

-include $(CORE_OBJ:.o=.d) $(BUILD)/src/main.d $(LIB_OBJ:.o=.d)
