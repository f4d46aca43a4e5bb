# ngx_campaign: build, demo, tests.
#
#   make          the module (build/ngx_http_campaign_module.so) and the
#                 command-line tool (build/ngx-campaign; also: make cli)
#   make run      the demo in the foreground on 127.0.0.1:$(PORT)
#   make test     unit tests and the Test::Nginx suites
#   make bench    wrk against bare nginx and a trigger, one worker; then
#                 audience executions of 100,000 and 1,000,000 recipients
#                 (bench/audience.sh; BENCH_AUDIENCE_SIZES=100000 for one);
#                 then location gateways against connectors (http, smtp,
#                 apns): triggers and an audience of 10,000
#                 (bench/connectors.sh)
#   make fuzz     libFuzzer over the parsers (FUZZ_SECONDS each)
#   make asan     the Test::Nginx suites against nginx built from source
#                 with AddressSanitizer and the module linked in statically
#                 (needs `apt-get source nginx`, i.e. a deb-src entry)
#
# Each target installs the Debian packages it needs (sudo when not root).

SHELL        := /bin/bash

PORT         ?= 8080
FUZZ_SECONDS ?= 60

NGINX        ?= /usr/sbin/nginx
NGINX_SRC    ?= /usr/share/nginx/src
BUILD        := $(CURDIR)/build
MODULE       := $(BUILD)/ngx_http_campaign_module.so

CC           ?= cc
UNIT_CFLAGS  := -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O2 -g \
                -Isrc
UNIT_LIBS    := -lcjson -lpcre2-8 -lm -lcmocka

ENGINE_SRCS  := src/ngx_campaign_json.c src/ngx_campaign_template.c \
                src/ngx_campaign_expr.c src/ngx_campaign_definition.c \
                src/ngx_campaign_trigger.c src/ngx_campaign_content.c \
                src/ngx_campaign_arena.c src/ngx_campaign_limits.c \
                src/ngx_campaign_audience.c src/ngx_campaign_mime.c
ENGINE_DEPS  := $(ENGINE_SRCS) $(wildcard src/*.h)
MODULE_SRCS  := config ngx_campaign_module.c $(wildcard src/*.c) \
                $(wildcard src/*.h)

CLI          := $(BUILD)/ngx-campaign

UNIT_TESTS   := $(BUILD)/test_json $(BUILD)/test_template \
                $(BUILD)/test_expr $(BUILD)/test_definition \
                $(BUILD)/test_trigger $(BUILD)/test_content \
                $(BUILD)/test_limits $(BUILD)/test_audience \
                $(BUILD)/test_mime
FUZZERS      := $(BUILD)/fuzz_template $(BUILD)/fuzz_expr \
                $(BUILD)/fuzz_trigger $(BUILD)/fuzz_definition \
                $(BUILD)/fuzz_audience $(BUILD)/fuzz_mime

BUILD_PKGS   := gcc make nginx-dev nginx-core libcjson-dev libpcre2-dev \
                libcurl4-openssl-dev \
                libssl-dev
TEST_PKGS    := $(BUILD_PKGS) libcmocka-dev curl libtest-base-perl \
                libtext-diff-perl libwww-perl liburi-perl \
                liblist-moreutils-perl libipc-run-perl libtest-longstring-perl \
                prometheus python3-aiosmtpd openssl
BENCH_PKGS   := $(BUILD_PKGS) wrk curl
FUZZ_PKGS    := $(BUILD_PKGS) clang libclang-rt-14-dev

# bench/connectors.sh: a key and a certificate, the SMTP sink
BENCH_PKGS   += openssl python3

SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# the real Test::Nginx when installed, the compatible runner in t/lib if not
PROVE_INC    := $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null \
                        || echo -It/lib)

export TEST_NGINX_BINARY       ?= $(NGINX)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)
export TEST_NGINX_CAMPAIGNS    ?= $(CURDIR)/t/campaigns
export NGX_CAMPAIGN_CLI        ?= $(CLI)

define install_packages
	@missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; \
	fi
endef

.PHONY: audience all cli deps test-deps run test unit integration bench fuzz asan clean

all: $(MODULE) $(CLI)

cli: $(CLI)

deps:
	$(call install_packages,$(BUILD_PKGS))

test-deps:
	$(call install_packages,$(TEST_PKGS))

# The module must be built with the configure arguments of the nginx it is
# loaded into, or load_module refuses it as not binary compatible.
$(MODULE): $(MODULE_SRCS) | deps
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --add-dynamic-module=$(CURDIR) >$(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new file, not new contents: a running nginx keeps its mapping
	cp $(BUILD)/nginx/objs/ngx_http_campaign_module.so $@.tmp
	mv -f $@.tmp $@

# The workers read conf/profiles/ and write var/tmp/ (a trigger body larger
# than client_body_buffer_size is buffered there).  nginx started by root
# runs them as "nobody", who may not enter the checkout (e.g. under /root):
# every larger trigger would fail with 500 and every profile lookup with
# 403.  So as root the demo's workers run as the invoking user, who can
# read and write everything here, as they do when you are not root.
DEMO_USER    := $(shell [ "$$(id -u)" = 0 ] \
                        && echo "user $$(id -un) $$(id -gn);")

# make run SMTP=1: e-mail goes to the "relay" connector of conf/nginx.conf
# (uncommented in var/nginx.conf), and to a local SMTP catcher on
# 127.0.0.1:$(SMTP_PORT) that prints each message it gets and keeps them
# in var/smtp/
SMTP_PORT    ?= 2525
SMTP_CONF    := -e '/^ *\#campaign_connector  relay  smtp {/,/^ *\#}/s/\#//' \
                -e 's/127\.0\.0\.1:2525/127.0.0.1:$(SMTP_PORT)/' \
                -e 's|^\( *\)\(campaign_gateway  email  /_gateway\)|\1\#\2|' \
                -e 's|^\( *\)\#\(campaign_gateway  email  connector\)|\1\2|'

run: $(MODULE)
	$(if $(SMTP),$(call install_packages,python3-aiosmtpd))
	mkdir -p var/tmp var/journal $(if $(SMTP),var/smtp)
	@# the demo's key for unsubscribe links, made once, never in the tree
	[ -s var/unsubscribe.key ] || (umask 077; head -c 32 /dev/urandom \
	    | od -An -tx1 | tr -d ' \n' > var/unsubscribe.key)
	sed -e 's/127\.0\.0\.1:8080/127.0.0.1:$(PORT)/' \
	    $(if $(DEMO_USER),-e 's/^#user .*/$(DEMO_USER)/') \
	    $(if $(SMTP),$(SMTP_CONF)) \
	    conf/nginx.conf > var/nginx.conf
	@echo "ngx_campaign demo on http://127.0.0.1:$(PORT)/ajo/im/" \
	      "(outbox: var/outbox.jsonl, logs: var/); Ctrl-C stops it"
	@# `make run NGINX=...` puts NGINX in the environment, where nginx
	@# would take it for inherited listening sockets
ifneq ($(SMTP),)
	@echo "e-mail: SMTP to 127.0.0.1:$(SMTP_PORT), the catcher below"
	unset NGINX; /usr/bin/python3 t/smtp-server.py --port $(SMTP_PORT) \
	    --dir var/smtp --print & catcher=$$!; \
	trap 'kill $$catcher 2>/dev/null' EXIT; \
	$(NGINX) -p $(CURDIR)/ -c var/nginx.conf -e var/error.log \
	    -g 'daemon off;'
else
	unset NGINX; exec $(NGINX) -p $(CURDIR)/ -c var/nginx.conf \
	    -e var/error.log -g 'daemon off;'
endif

# a bigger audience for the demo: make audience N=100000 writes
# conf/audiences/vips-100000.jsonl, the audience "vips-100000"
N ?= 10000

audience:
	tools/make-audience $(N) > conf/audiences/vips-$(N).jsonl.tmp
	mv -f conf/audiences/vips-$(N).jsonl.tmp conf/audiences/vips-$(N).jsonl
	@echo "audience \"vips-$(N)\": conf/audiences/vips-$(N).jsonl"

test: test-deps $(MODULE) unit integration

# the command-line tool links the same engine as the module
$(CLI): cli/ngx_campaign_cli.c $(ENGINE_DEPS) | deps
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_CFLAGS) $(ENGINE_SRCS) $< -lcjson -lpcre2-8 -lm -lcrypto \
	    -o $@

$(BUILD)/test_%: t/unit/test_%.c $(ENGINE_DEPS) | test-deps
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_CFLAGS) $(ENGINE_SRCS) $< $(UNIT_LIBS) -o $@

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do echo "== $$t"; $$t || exit 1; done

integration: $(MODULE) $(CLI) | test-deps
	@echo "Test::Nginx: $(if $(PROVE_INC),the compatible runner in t/lib" \
	      "(none on @INC or PERL5LIB),the one on @INC or PERL5LIB)"
	prove $(PROVE_INC) t/*.t

$(BUILD)/fuzz_%: t/fuzz/fuzz_%.c $(ENGINE_DEPS)
	$(call install_packages,$(FUZZ_PKGS))
	@mkdir -p $(BUILD)
	clang -g -O1 -fsanitize=fuzzer,address -D_DEFAULT_SOURCE -Isrc \
	    $(ENGINE_SRCS) $< -lcjson -lpcre2-8 -lm -o $@

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	    echo "== $$f ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(BUILD)/corpus/$$(basename $$f) || exit 1; \
	done

$(BUILD)/render_bench: bench/render_bench.c $(ENGINE_DEPS) | deps
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O2 -Isrc \
	    $(ENGINE_SRCS) $< -lcjson -lpcre2-8 -lm -o $@

# instruction counts of the trigger step: see bench/trigger_bench.c
$(BUILD)/trigger_bench: bench/trigger_bench.c $(ENGINE_DEPS) | deps
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O2 -g -Isrc \
	    $(ENGINE_SRCS) $< -lcjson -lpcre2-8 -lm -o $@

bench: $(MODULE) $(BUILD)/render_bench
	$(call install_packages,$(BENCH_PKGS))
	$(BUILD)/render_bench
	bench/run.sh $(NGINX) $(MODULE)
	bench/audience.sh $(NGINX) $(MODULE)
	bench/connectors.sh $(NGINX) $(MODULE)

ASAN_NGINX   := $(BUILD)/asan/objs/nginx

$(ASAN_NGINX): $(MODULE_SRCS) | test-deps
	@mkdir -p $(BUILD)/src-pkg
	cd $(BUILD)/src-pkg && { ls nginx_*.orig.tar.gz >/dev/null 2>&1 \
	    || apt-get source --download-only nginx || true; }
	@ls $(BUILD)/src-pkg/nginx_*.orig.tar.gz >/dev/null 2>&1 || { \
	    echo "no nginx source: add a deb-src line for Debian to apt's" \
	         "sources and run apt-get update"; exit 1; }
	rm -rf $(BUILD)/asan && mkdir -p $(BUILD)/asan
	tar -xzf $$(ls $(BUILD)/src-pkg/nginx_*.orig.tar.gz | tail -1) \
	    -C $(BUILD)/asan --strip-components=1
	cd $(BUILD)/asan && ./configure --with-debug --with-http_v2_module \
	    --with-http_ssl_module \
	    --add-module=$(CURDIR) \
	    --with-cc-opt="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	    --with-ld-opt="-fsanitize=address,undefined" >/dev/null
	$(MAKE) -C $(BUILD)/asan -f objs/Makefile

asan: $(ASAN_NGINX)
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/t/ubsan.supp \
	TEST_NGINX_BINARY=$(ASAN_NGINX) TEST_NGINX_LOAD_MODULES= \
	    prove $(PROVE_INC) t/*.t

clean:
	rm -rf $(BUILD) t/servroot var
