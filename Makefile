# gopcp: `make run` shows a collector answering pminfo; `make test` runs everything.
GO        ?= go
BIN       := bin
PORT      ?= 44399
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.Version=$(VERSION)
FUZZTIME  ?= 15s
PROGRAMS  := collectord pminfo certdb proxyd

.PHONY: all build test race run bench bench-fleet fuzz stress vet clean

all: build

# The programs are built without cgo: static files that run on any Linux, with
# Go's own DNS resolver and /etc/passwd reader (what net and os/user would use
# libc for; nothing here needs NSS modules). For the daemons it also keeps
# libc and the dynamic loader out of memory: 1.3-1.7 MiB less RSS for
# collectord under 200 clients (BENCHMARKS.md, "Memory"). Tests build the
# programs with the toolchain's default; the two differ only in those lookups.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./,$(PROGRAMS))

vet:
	$(GO) vet ./...

# Everything, interop included (the real PCP must be installed: .ci/run does it).
test: vet
	$(GO) test -count=1 -timeout 20m ./...

# The race detector over the whole suite in -short mode: what -short leaves out
# (program builds, RSA 4096, the sequential /proc fault matrix) runs in make test.
race:
	$(GO) test -race -short -count=1 -timeout 25m ./...

# Build, create a throwaway CA and certificates, start a secure collector on
# 127.0.0.1:$(PORT) and show pminfo -f output through it.
run: build
	@scripts/run-demo.sh $(PORT)

# Side-by-side benchmarks against the real pmcd (see BENCHMARKS.md).
bench: build
	@scripts/bench.sh
	@scripts/bench-proxy.sh
	@scripts/bench-proc.sh

# One proxyd in front of 100 collectord scraped by Prometheus, plus 20 REST
# clients, for about 4 minutes (see BENCHMARKS.md, "Fleet").
bench-fleet: build
	@scripts/bench-fleet.sh

# Every fuzz target of every package for FUZZTIME each (CI: make fuzz FUZZTIME=10s).
# Targets are found in the test files, so no package is compiled just to list them.
# A failing input is saved under its package's testdata/fuzz/; every target runs
# and the failures are listed at the end. Go 1.26's coordinator can end a run at
# its -fuzztime with "context deadline exceeded" and no failing input
# (go.dev/issue/75804, fixed in Go 1.27): that is reported, not failed on.
fuzz:
	@failed=""; flaked=""; log=$$(mktemp); \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
	    echo "== $$dir $$t ($(FUZZTIME))"; \
	    before=$$(ls $$dir/testdata/fuzz/$$t 2>/dev/null | wc -l); \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir >$$log 2>&1; rc=$$?; cat $$log; \
	    after=$$(ls $$dir/testdata/fuzz/$$t 2>/dev/null | wc -l); \
	    if [ $$rc -ne 0 ]; then \
	      if [ $$after -eq $$before ] && grep -q 'context deadline exceeded' $$log; then flaked="$$flaked $$dir:$$t"; \
	      else failed="$$failed $$dir:$$t"; fi; \
	    fi; \
	  done; \
	done; rm -f $$log; \
	if [ -n "$$flaked" ]; then echo "fuzz: ended by Go's fuzztime race (go.dev/issue/75804), no failing input:$$flaked"; fi; \
	if [ -n "$$failed" ]; then echo "fuzz: failing targets:$$failed"; exit 1; fi

# The reliability and security suite at full size (1,000 clients for 30 s and so
# on; `go test ./stress/...` runs the short variants). Its figures go to
# $(BIN)/stress-figures.txt, which BENCHMARKS.md quotes.
stress:
	@mkdir -p $(BIN)
	@rm -f $(BIN)/stress-figures.txt
	GOPCP_STRESS_FULL=1 GOPCP_STRESS_FIGURES=$(CURDIR)/$(BIN)/stress-figures.txt $(GO) test -count=1 -timeout 30m ./stress/...
	@cat $(BIN)/stress-figures.txt

clean:
	rm -rf $(BIN)

# Installation: make install [PREFIX=/usr/local] [DESTDIR=/tmp/pkgroot]
# Binaries (with version and commit), systemd units (ExecStart pointed at BINDIR),
# the sysusers.d entry for the gopcp account, man pages and bash completions (made
# from each program's command table; pminfo's from its --help), and the example
# configurations.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR      ?= $(PREFIX)/share/doc/gopcp
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
INSTALL_PROGRAMS := $(sort $(PROGRAMS) $(if $(wildcard proxyd/main.go),proxyd))
STAGE       := $(BIN)/install

.PHONY: install
install:
	@mkdir -p $(STAGE)
	$(GO) build -ldflags "-X main.Version=$(VERSION) -X main.Commit=$(COMMIT)" -o $(STAGE)/ $(addprefix ./,$(INSTALL_PROGRAMS))
	$(GO) run ./man -out $(STAGE)/doc -version $(VERSION) $(addprefix $(STAGE)/,$(INSTALL_PROGRAMS))
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(BASHCOMPDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(addprefix $(STAGE)/,$(INSTALL_PROGRAMS)) $(DESTDIR)$(BINDIR)/
	for u in etc/systemd/*.service etc/systemd/*.socket; do \
	  sed 's|/usr/bin/|$(BINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	install -m 0644 etc/sysusers.d/gopcp.conf $(DESTDIR)$(SYSUSERSDIR)/gopcp.conf
	for f in $(STAGE)/doc/man/man*/*; do \
	  install -m 0644 $$f $(DESTDIR)$(MANDIR)/$$(basename $$(dirname $$f))/ || exit 1; \
	done
	install -m 0644 $(STAGE)/doc/bash-completion/* $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 etc/collectord.toml etc/proxyd.toml $(DESTDIR)$(DOCDIR)/examples/
