# Wharf — see `make help`.
SHELL       := /bin/bash
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
BIN         := bin/wharf
export CGO_ENABLED := 0

.PHONY: all build run test lint e2e bench litmus package help

all: build

build: ## build bin/wharf (static, version stamped)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

run: build ## build and serve with the defaults (127.0.0.1:8080, default data directory)
	./$(BIN) serve

test: ## everything CI runs: gofmt, go vet, unit + e2e tests with -race
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

lint: ## go vet + staticcheck
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...

e2e: ## only the black-box tests of the built binary
	CGO_ENABLED=1 $(GO) test -race -count=1 ./e2e/...

bench: build ## Go benchmarks, then WebDAV (vs x/net/webdav, rclone) and tus (vs tusd, cp) side by side, for docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/davbench -wharf $(BIN) $(BENCHFLAGS)
	cd bench/tusbench && $(GO) run . -wharf ../../$(BIN) $(BENCHFLAGS)

FUZZTIME    ?= 10m
FUZZ        := ./server/dav:FuzzParsePropfind ./server/dav:FuzzParseProppatch ./server/dav:FuzzReadLockInfo \
               ./server/dav:FuzzParseIf ./server/tus:FuzzUploadMetadata ./server/tus:FuzzParseChunkSum \
               ./server/tus:FuzzParseWholeSum ./space:FuzzClean ./server/events:FuzzParseFilter \
               ./server/postproc:FuzzReadEXIF

.PHONY: fuzz
fuzz: ## each native fuzz target for FUZZTIME (default 10m), one after the other; seeds in testdata/fuzz
	@set -e; for t in $(FUZZ); do \
	  echo "== $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

package: ## .deb and .rpm (not yet)
	@echo "packaging lands with the appliance issue"; exit 1

help: ## this list
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
