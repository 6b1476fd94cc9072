# hubgate — selective-MITM forward proxy for Docker Hub.
#
#   make            build ./hubgate
#   make run        install missing build deps, build, run with conf/hubgate.ini
#   make test       unit tests, then integration tests (root, network namespaces)
#   make unit       unit tests only
#   make SAN=address,undefined test    the same under ASan/UBSan
#   make lint       cppcheck;  make tidy   clang-tidy
#   make fuzz       libFuzzer targets, 60 s each (make test runs them 10 s each)
#   make bench      throughput, latency and memory against direct and other proxies
#   make deb        the Debian package, ../hubgate_<version>_<arch>.deb
#   make test-deb   build, lint, install, upgrade, remove and purge it (root)

PKGS     = openssl libcares inih jansson
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough \
           -Wno-sign-compare -Wno-format-truncation
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fno-common
SANFL    = $(if $(SAN),-fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer)
LLHTTP_DIR = /usr/share/llhttp
LLHTTP_INC = /usr/share/include/llhttp
ALL_CFLAGS = -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread -I. -I$(LLHTTP_INC) $(WARN) $(HARDEN) $(SANFL) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread

# A build per flavour, so a sanitizer build never mixes with a plain one.
B        = build/$(if $(SAN),san-$(subst $(comma),-,$(SAN)),plain)
comma   := ,

SRCS     = $(wildcard base/*.c ca/*.c dns/*.c mitm/*.c mitm/*/*.c proxy/*.c proxy/*/*.c)
OBJS     = $(SRCS:%.c=$(B)/%.o)
LIB_OBJS = $(filter-out $(B)/proxy/main.o,$(OBJS))
LLHTTP_OBJS = $(B)/llhttp/llhttp.o $(B)/llhttp/api.o $(B)/llhttp/http.o
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

.PHONY: fuzz-smoke FORCE deps-test test-bins all run test unit integration bench lint tidy clean deps fuzz install uninstall

all: hubgate

# ./hubgate is the binary of the flavour last built (plain or SAN=...).
hubgate: $(B)/hubgate FORCE
	@cmp -s $< $@ || (cp $< $@.tmp && mv -f $@.tmp $@ && echo "  CP      $< -> $@")

FORCE:

$(B)/hubgate: $(OBJS) $(LLHTTP_OBJS)
	@echo "  LD      $@"
	@$(CC) $(SANFL) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# llhttp's own sources: not ours, not warning-free, so no -Werror and no lint.
$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (llhttp)"
	@$(CC) $(CFLAGS) $(CPPFLAGS) -I$(LLHTTP_INC) $(SANFL) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(LIB_OBJS) $(LLHTTP_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $<"
	@$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -MF $@.d $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LLHTTP_OBJS) \
	    $(LDLIBS) $(shell pkg-config --libs cmocka)

deps:
	scripts/deps.sh

run: deps
	$(MAKE) hubgate
	@mkdir -p var
	./hubgate -c conf/hubgate.ini

unit: $(UNIT_BINS)
	tests/run.sh --unit-only $(B)/tests

# Dependencies first, then a fresh make, so pkg-config sees what was installed.
test: deps-test
	$(MAKE) hubgate test-bins
	$(if $(SAN),,tests/valgrind.sh $(B)/tests)
	tests/fuzz/run.sh 10
	tests/run.sh $(B)/tests

# libFuzzer targets (clang): replay the corpora and past crashes, then fuzz.
fuzz:
	tests/fuzz/run.sh 60

fuzz-smoke:
	tests/fuzz/run.sh 10

test-bins: $(UNIT_BINS)

bench: deps
	$(MAKE) hubgate
	bench/run.sh

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system

install: hubgate
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)' scripts/install.sh install

uninstall:
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)' scripts/install.sh uninstall

lint:
	cppcheck --enable=warning,style,performance,portability --std=c11 \
	    --inline-suppr --error-exitcode=1 --suppress=missingIncludeSystem \
	    --suppress=variableScope \
	    -D_DEFAULT_SOURCE -I. base ca dns mitm proxy

tidy:
	clang-tidy --quiet $(SRCS) -- -D_DEFAULT_SOURCE -D_GNU_SOURCE -I. -I$(LLHTTP_INC)

clean:
	rm -rf build hubgate

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)

deps-test:
	scripts/deps.sh --test

# ------------------------------------------------------------------ Debian package

# The version, written in one place: the first line of debian/changelog.
# `hubgate --version`, the admin page and the package all show it. Plain sed,
# so that a machine without dpkg-dev builds too; a Debian revision (-N) is
# not part of hubgate's own version. proxy/version.h has the fallback.
VERSION := $(shell sed -n '1{s/^[^(]*(\([^)]*\)).*/\1/;s/-[^-]*$$//;p;q;}' debian/changelog 2>/dev/null)
# CPPFLAGS and LDFLAGS (the link lines) carry dpkg-buildflags' hardening.
ALL_CFLAGS += $(CPPFLAGS) $(if $(VERSION),-DHUBGATE_VERSION='"$(VERSION)"')

# Objects get the version through -D, which make cannot see: the stamp is
# rewritten only when the version changes, and everything built depends on it.
$(B)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(OBJS) $(UNIT_BINS): $(B)/version.stamp

.PHONY: deb test-deb
# dpkg-buildpackage's jobs (-J): DEB_JOBS=1 for a serial build.
DEB_JOBS ?= auto

# The .deb goes where dpkg-buildpackage puts it: the directory above this one.
deb:
	scripts/deps.sh --deb
	dpkg-buildpackage -us -uc -b -J$(DEB_JOBS)
	@echo "make deb: built $(abspath ..)/hubgate_$$(dpkg-parsechangelog -S Version)_$$(dpkg --print-architecture).deb"

test-deb:
	scripts/deps.sh --deb-test
	tests/deb/test_deb.sh
