# tandem — build, run and test.
#
#   make build   bin/tandem
#   make run     build, then run tandem demo: a failover pair on loopback, load,
#                a crash, takeover and recovery, in about 35 s (no root, no config)
#   make deps    install what the tests use (Debian packages when run as root; Go modules)
#   make test    vet, race tests of the concurrent packages, then every test incl. end-to-end
#   make e2e-isp the ISP-feature end-to-end tests alone (root; about a minute):
#                dhclient, dhcpcd, dhcrelay, udhcpc6 and a failover pair, every
#                exchange captured and checked with tshark
#   make bench   every benchmark, 6 counts (compare runs with benchstat)
#   make bench-suite  tandem vs Kea end to end in network namespaces (root,
#                about 5 minutes; not part of make test): a table, and
#                bench/results/suite.{json,svg,md}, the README's figures
#   make lint    gofmt, go vet, staticcheck
#   make fuzz    every fuzz target for FUZZTIME (default 30s) each
#   make fuzz-short  every fuzz target for FUZZSHORT (default 4s): the pass
#                make test runs (about 2 minutes with compiling)
#
# The end-to-end tests (cmd/tandem/e2e_test.go) need root: they create network
# namespaces and run ISC dhclient, dhcpcd, BusyBox udhcpc6, ISC dhcrelay and
# Kea's perfdhcp against the binary, and check the captured packets with
# tshark. As another user they skip (with CI=true they fail instead).

GO         ?= go
BIN        ?= bin/tandem
FUZZTIME   ?= 30s
FUZZSHORT  ?= 4s
# Fuzz workers per target (go test -parallel); the default is every CPU.
FUZZPARALLEL ?= $(shell nproc 2>/dev/null || echo 2)
TESTTIMEOUT ?= 20m
RACE_PKGS  ?= ./engine/... ./journal/... ./netio/... ./replicate/...

# tool → Debian package, for what the tests need.
DEB_TOOLS := dhclient:isc-dhcp-client perfdhcp:kea-admin kea-dhcp6:kea-dhcp6-server ip:iproute2 curl:curl tcpdump:tcpdump nft:nftables openssl:openssl \
	dhcpcd:dhcpcd-base dhcrelay:isc-dhcp-relay tshark:tshark
# BusyBox's udhcpc6 is built from Debian's busybox source (Debian's binary
# package leaves the applet out): .ci/build-udhcpc6.sh, into $(UDHCPC6_PREFIX)/bin.
UDHCPC6_PREFIX ?= /usr/local

.PHONY: all build run deps test e2e-isp bench bench-suite lint fuzz fuzz-short fuzz-run clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tandem

run: build
	$(BIN) demo

deps:
	@missing=""; \
	for tp in $(DEB_TOOLS); do \
		t=$${tp%%:*}; p=$${tp#*:}; \
		if ! command -v $$t >/dev/null 2>&1 && [ ! -x /usr/sbin/$$t ] && [ ! -x /sbin/$$t ]; then \
			missing="$$missing $$p"; \
		fi; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "deps: test tools present (dhclient, perfdhcp, kea-dhcp6, ip, curl, tcpdump, nft, dhcpcd, dhcrelay, tshark)"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
		echo "deps: not root: not installing$$missing (the end-to-end tests will skip)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: no apt-get: install$$missing yourself (the end-to-end tests need them)"; \
	else \
		echo "deps: apt-get install$$missing"; \
		case " $$missing " in *" tshark "*) \
			echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections;; \
		esac; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends$$missing; \
	fi
	@PREFIX=$(UDHCPC6_PREFIX) ./.ci/build-udhcpc6.sh
	$(GO) mod download

# The end-to-end tests (./cmd/tandem) run after the rest, on their own: they
# drive real load (perfdhcp at 2000 exchanges/s) and must not share the two
# cores with other packages' tests.
test: deps
	$(GO) vet ./...
	$(GO) test -race -timeout $(TESTTIMEOUT) $(RACE_PKGS)
	$(GO) test -timeout $(TESTTIMEOUT) $$($(GO) list ./... | grep -v '/cmd/tandem$$')
	$(MAKE) --no-print-directory fuzz-short
	$(GO) test -timeout $(TESTTIMEOUT) -count=1 -v ./cmd/tandem

ISP_E2E := TestTsharkHelper|TestDhclientOptions|TestDhcpcdPrefixHint|TestRelayClasses|TestUdhcpc6Unicast|TestRenumberDhclient|TestPairISP|TestUnicastSolicitDiscarded

e2e-isp: deps
	$(GO) test -timeout 10m -count=1 -v -run '^($(ISP_E2E))$$' ./cmd/tandem

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./...

# The end-to-end benchmark scenarios (bench/suite): tandem standalone and
# as a pair, Kea standalone and as an HA pair, and a bare echo responder,
# each driven by tandem bench from its own network namespace. It refreshes
# the README's bench-suite section. SUITEFLAGS passes flags, e.g.
# SUITEFLAGS="--scenarios tandem,kea --profile bench/results/profiles".
SUITEFLAGS ?=

bench-suite: deps
	$(GO) run ./bench/suite --readme README.md $(SUITEFLAGS)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# Fuzz targets are found by name (func FuzzX in a _test.go file), so a new
# one is picked up without editing this file. Each runs on its own (go test
# -fuzz takes one target at a time); its seed corpus (testdata/fuzz/FuzzX)
# already ran as ordinary tests in make test. A failure leaves the input in
# testdata/fuzz/FuzzX: keep it there once fixed, it is a regression test.
fuzz:
	@$(MAKE) --no-print-directory fuzz-run FUZZFOR=$(FUZZTIME)

fuzz-short:
	@$(MAKE) --no-print-directory fuzz-run FUZZFOR=$(FUZZSHORT)

fuzz-run:
	@set -e; found=0; start=$$(date +%s); \
	for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			found=$$((found+1)); \
			echo "== fuzz ./$$dir $$f ($(FUZZFOR))"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZFOR) -parallel=$(FUZZPARALLEL) ./$$dir; \
		done; \
	done; \
	echo "fuzz: $$found targets, $$(( $$(date +%s) - start )) s"; \
	if [ $$found -eq 0 ]; then echo "fuzz: no fuzz targets found"; exit 1; fi

clean:
	rm -rf bin
