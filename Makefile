# tandem — build, run and test.
#
#   make build   bin/tandem
#   make run     build, then run tandem demo: a failover pair on loopback, load,
#                a crash, takeover and recovery, in about 35 s (no root, no config)
#   make deps    install what the tests use (Debian packages when run as root; Go modules)
#   make test    vet, race tests of the concurrent packages, then every test incl. end-to-end
#   make bench   every benchmark, 6 counts (compare runs with benchstat)
#   make bench-suite  tandem vs Kea end to end in network namespaces (root,
#                about 5 minutes; not part of make test): a table, and
#                bench/results/suite.{json,svg,md}, the README's figures
#   make lint    gofmt, go vet, staticcheck
#   make fuzz    every fuzz target for FUZZTIME (default 30s) each
#
# The end-to-end tests (cmd/tandem/e2e_test.go) need root: they create network
# namespaces and run ISC dhclient and Kea's perfdhcp against the binary. As
# another user they skip (with CI=true they fail instead).

GO         ?= go
BIN        ?= bin/tandem
FUZZTIME   ?= 30s
TESTTIMEOUT ?= 20m
RACE_PKGS  ?= ./engine/... ./journal/... ./netio/... ./replicate/...

# tool → Debian package, for what the tests need.
DEB_TOOLS := dhclient:isc-dhcp-client perfdhcp:kea-admin kea-dhcp6:kea-dhcp6-server ip:iproute2 curl:curl tcpdump:tcpdump nft:nftables openssl:openssl

.PHONY: all build run deps test bench bench-suite lint fuzz clean

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
		echo "deps: test tools present (dhclient, perfdhcp, kea-dhcp6, ip, curl, tcpdump, nft)"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
		echo "deps: not root: not installing$$missing (the end-to-end tests will skip)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: no apt-get: install$$missing yourself (the end-to-end tests need them)"; \
	else \
		echo "deps: apt-get install$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends$$missing; \
	fi
	$(GO) mod download

# The end-to-end tests (./cmd/tandem) run after the rest, on their own: they
# drive real load (perfdhcp at 2000 exchanges/s) and must not share the two
# cores with other packages' tests.
test: deps
	$(GO) vet ./...
	$(GO) test -race -timeout $(TESTTIMEOUT) $(RACE_PKGS)
	$(GO) test -timeout $(TESTTIMEOUT) $$($(GO) list ./... | grep -v '/cmd/tandem$$')
	$(GO) test -timeout $(TESTTIMEOUT) -count=1 -v ./cmd/tandem

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

fuzz:
	@set -e; found=0; \
	for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			found=1; \
			echo "== fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done; \
	if [ $$found -eq 0 ]; then echo "fuzz: no fuzz targets found"; fi

clean:
	rm -rf bin
