# Wharf — see `make help`.
SHELL       := /bin/bash
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
BIN         := bin/wharf
PREFIX      ?= /usr/local
export CGO_ENABLED := 0

.PHONY: all build install run test lint e2e bench litmus package help

all: build

build: ## build bin/wharf (static, version stamped)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

install: build ## copy bin/wharf to PREFIX/bin: /usr/local by default, PREFIX=~/.local for you alone
	install -d '$(DESTDIR)$(PREFIX)/bin'
	install -m 0755 $(BIN) '$(DESTDIR)$(PREFIX)/bin/wharf'

run: build ## build and serve with the defaults (127.0.0.1:8080, default data directory)
	./$(BIN) serve

test: ## everything CI runs: gofmt, go vet, unit + e2e tests with -race
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 45m ./...

lint: ## go vet + staticcheck
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...

e2e: ## only the black-box tests of the built binary
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 45m ./e2e/...

bench: build ## Go benchmarks, then WebDAV (vs x/net/webdav, rclone) and tus (vs tusd, cp) side by side, for docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/davbench -wharf $(BIN) $(BENCHFLAGS)
	$(GO) run ./bench/davbench -small -wharf $(BIN) $(BENCHFLAGS)
	cd bench/tusbench && $(GO) run . -wharf ../../$(BIN) $(BENCHFLAGS)

SOAKLOG     ?= bin/soak.log

.PHONY: soak
soak: ## 100 crash trials (SIGKILL mid-upload/processing/push), 100 of the trash and versions (mid-delete/restore/purge/overwrite), a 5-minute, 200-client load test and the noisy-neighbour comparison; summary at the end
	mkdir -p $(dir $(SOAKLOG)); set -o pipefail; CGO_ENABLED=1 WHARF_CRASH_TRIALS=100 WHARF_LOAD_DURATION=5m WHARF_NOISY_DURATION=30s $(GO) test -count=1 -timeout 90m \
	  -run '^(TestCrashTrials|TestCrashTrash|TestLoad|TestNoisyNeighbour)$$' -v ./e2e/ 2>&1 | tee $(SOAKLOG) | grep -E '^\s*--- (PASS|FAIL): Test[A-Za-z]+ '; \
	  status=$$?; echo "== summary (full log: $(SOAKLOG))"; \
	  grep -E 'crash trials: |crash trash: |noisy neighbour: |^ +(load: |\||server: peak)|^(ok|FAIL)\s' $(SOAKLOG); exit $$status

FUZZTIME    ?= 10m
FUZZ        := ./dav:FuzzParsePropfind ./dav:FuzzParseProppatch ./dav:FuzzReadLockInfo \
               ./dav:FuzzParseIf ./tus:FuzzUploadMetadata ./tus:FuzzParseChunkSum \
               ./tus:FuzzParseWholeSum ./space:FuzzClean ./events:FuzzParseFilter \
               ./postproc:FuzzReadEXIF ./dav:FuzzParseDestination ./dav:FuzzParseTimeout \
               ./dav:FuzzParseChecksum ./dav:FuzzPreferAsync ./tus:FuzzCheckMetadata

.PHONY: fuzz
fuzz: ## each native fuzz target for FUZZTIME (default 10m), one after the other; seeds in testdata/fuzz
	@set -e; for t in $(FUZZ); do \
	  echo "== $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

DIST        ?= dist
package: build ## .deb and .rpm in dist/ (nfpm; see packaging/package.sh, docs/install.md)
	GO='$(GO)' packaging/package.sh $(BIN) '$(VERSION)' $(DIST)

help: ## this list
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# SeaweedFS's weed, the real S3 server of the blob tests
# (internal/testservers), built once from tools/go.mod and cached under a
# name carrying its version; the tests build it themselves when it is
# missing, but that takes minutes.
WEED_VERSION := $(shell awk '$$1 == "github.com/seaweedfs/seaweedfs" {print $$2}' tools/go.mod)
WEED         := bin/tools/weed-$(WEED_VERSION)

.PHONY: weed
weed: $(WEED) ## build SeaweedFS (tools/go.mod) for the S3 tests, once: bin/tools/weed-VERSION

$(WEED):
	mkdir -p $(dir $@)
	$(GO) build -modfile=tools/go.mod -o $@.tmp github.com/seaweedfs/seaweedfs/weed && mv $@.tmp $@
