# valetkey -- plain Makefile with pkg-config. Two commands matter:
#   make run    install missing Debian packages, build, start the server on ./valetkey-data
#   make test   build and run every test (unit, integration, sanitizers, fuzz corpus replay)
# Build variants live side by side: build/ (release-ish, -O2) and build/asan/ (ASan+UBSan).

CC      ?= cc
BUILD   ?= build
PKGS    := libmicrohttpd libcrypto jansson sqlite3 libcurl inih
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

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit integration browser asan fuzz-replay fuzz bench deps deps-test clean check-layers

all: $(BUILD)/valetkey

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

$(BUILD)/src/store/sqlite.o: $(BUILD)/gen/migrations.h
$(BUILD)/src/store/sqlite.o: CFLAGS_ALL += -I$(BUILD)/gen

$(BUILD)/libvkcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/valetkey: $(BUILD)/src/main.o $(BUILD)/libvkcore.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvkcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< $(BUILD)/libvkcore.a \
	    $(LDFLAGS_ALL) $(shell pkg-config --libs cmocka) $(PKG_LIBS)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

integration: $(BUILD)/valetkey
	@VALETKEY_BIN=$(abspath $(BUILD)/valetkey) tests/integration/run.sh

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
	@$(MAKE) --no-print-directory fuzz-replay
	@echo "make test: all suites passed"

check-layers:
	@scripts/check-layers.sh
	@scripts/check-banned.sh

bench: all
	bench/run

clean:
	rm -rf build

-include $(CORE_OBJ:.o=.d) $(BUILD)/src/main.d
