# gopcp: `make run` shows a collector answering pminfo; `make test` runs everything.
GO        ?= go
BIN       := bin
PORT      ?= 44399
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.Version=$(VERSION)
FUZZTIME  ?= 15s
PROGRAMS  := collectord pminfo certdb

.PHONY: all build test race run bench fuzz vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./,$(PROGRAMS))

vet:
	$(GO) vet ./...

# Everything, interop included (the real PCP must be installed: .ci/run does it).
test: vet
	$(GO) test -count=1 -timeout 20m ./...

# The race detector over the whole suite.
race:
	$(GO) test -race -count=1 -timeout 25m ./...

# Build, create a throwaway CA and certificates, start a secure collector on
# 127.0.0.1:$(PORT) and show pminfo -f output through it.
run: build
	@scripts/run-demo.sh $(PORT)

# Side-by-side benchmarks against the real pmcd (see BENCHMARKS.md).
bench: build
	@scripts/bench.sh

# Every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run XXX -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
