# weir — make help lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin
CONFIG ?=
CONTAINER_ENGINE ?= docker
TEST_FLAGS ?= -race -shuffle=on -timeout 30m

.DEFAULT_GOAL := help

-include bpf/Makefile.inc

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build weir and weirctl into bin/.
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/weir ./cmd/weir
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/weirctl ./cmd/weirctl

.PHONY: run
run: build ## Run weir on the embedded default config (or CONFIG=file.yaml).
	$(BIN)/weir $(if $(CONFIG),-config $(CONFIG))

.PHONY: test
test: ## Run every test with the race detector (privileged tests need root), then the allocation counts without it.
	$(GO) test $(TEST_FLAGS) ./...
	$(GO) test -count=1 -run 'Allocs|TestNewRequestID' ./userspace/...

.PHONY: lint
lint: ## go vet, gofmt and the layering rules of DESIGN.md.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run ./tools/archlint

.PHONY: bench
bench: build ## Run the benchmarks (micro and end-to-end); results under bench/results.
	$(GO) test -run '^$$' -bench . -benchmem ./userspace/... 
	@if [ -f bench/Makefile.inc ]; then $(MAKE) -f bench/Makefile.inc bench-e2e; fi

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$pkg || exit 1; \
	  done; done

.PHONY: image
image: ## Build the container image with $(CONTAINER_ENGINE) (none runs on CI machines).
	$(CONTAINER_ENGINE) build --build-arg VERSION=$(VERSION) -t weir:$(VERSION) .

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN)
