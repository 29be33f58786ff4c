# aiflow — the two front-door commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/aiflow-runner
# The release is python/pyproject.toml's version (the runner's default and aiflow_sdk's too).
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' python/pyproject.toml)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/aiflow-dev/aiflow/internal/cli.version=$(VERSION) -X github.com/aiflow-dev/aiflow/internal/cli.commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
FUZZTIME ?= 5s

.PHONY: all build build-slim image test test-go demo lint fmt vet bench bench-engines fuzz fuzz-short install services-up services-down spark-up spark-down verify-static clean

all: build

## build: the static runner (CGO_ENABLED=0), version via ldflags
build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/aiflow-runner
	@file $(BIN) 2>/dev/null | grep -q 'statically linked' || { echo "$(BIN) is not statically linked"; file $(BIN); exit 1; }

## build-slim: the runner without the Spark engine (build tag noSpark)
build-slim:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -tags nospark -o bin/aiflow-runner-slim ./cmd/aiflow-runner

## image: the runner images with podman/buildah, no registry (scripts/image.sh; archives in bin/images/)
image: build
	@scripts/image.sh

## demo: generate ~1M sample orders and run examples/quickstart end to end on the embedded defaults (no services)
demo: build
	@scripts/demo.sh

## test: install and start every service the tests need, run every test, stop the services
test:
	@scripts/test.sh

## test-go: only the Go tests, against whatever services are already up (source .services/env)
test-go:
	$(GO) test -count=1 ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: the Go benchmarks and the comparison scripts under bench/ (see bench/README.md)
bench: build
	@scripts/bench.sh

## bench-engines: only aiflow vs DuckDB, Polars and pyarrow (ROWS=10000000 RUNS=5 by default)
bench-engines: build
	@bench/engines/run.sh

## fuzz: a longer fuzz run of every fuzz target (FUZZTIME=1m make fuzz)
fuzz:
	@FUZZTIME=$(if $(filter 5s,$(FUZZTIME)),60s,$(FUZZTIME)) scripts/fuzz.sh

fuzz-short:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## install: install pinned third-party tools and venvs (idempotent)
install:
	@scripts/install.sh

services-up:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

## spark-up: start a local Spark Connect server (pyspark) for debugging; prints AIFLOW_SPARK_REMOTE
spark-up:
	@scripts/install.sh spark && scripts/services.sh up spark && grep SPARK_REMOTE .services/env

spark-down:
	@scripts/services.sh down spark

## verify-static: the binary alone is enough: version and a files→files node inside an empty chroot
verify-static: build
	@scripts/verify-static.sh

clean:
	rm -rf bin .aiflow
