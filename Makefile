# feathr: build, test, demo and benchmarks. `make help` lists the targets.

GO        ?= go
BIN       := bin/feathr
CACHE     ?= $(CURDIR)/.cache
export FEATHR_CACHE := $(CACHE)
KAFKA_PORT ?= 9192
FUZZTIME  ?= 30000x
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X github.com/feathrgo/feathr/cmd.version=$(VERSION)

.PHONY: help build test test-unit test-e2e deps services services-stop vet fuzz demo bench bench-tools proto clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/feathr (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

deps: ## install what the tests need: redis-server, kcat, Python peers, Kafka's broker jars
	scripts/redis.sh install
	scripts/peers.sh install
	scripts/kafka.sh install

services: deps ## start the real Kafka broker the end-to-end suite uses
	FEATHR_KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh start

services-stop: ## stop the Kafka broker
	FEATHR_KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh stop

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

test: deps ## everything CI runs: installs and starts what it needs, then vet, unit, fuzz and end-to-end tests
	$(MAKE) vet
	$(MAKE) build
	FEATHR_KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh start
	FEATHR_KAFKA_BROKERS=127.0.0.1:$(KAFKA_PORT) FEATHR_REQUIRE_KAFKA=1 FEATHR_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 20m ./... ; rc=$$?; \
		FEATHR_KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh stop; exit $$rc
	$(MAKE) fuzz
	$(GO) test -run '^$$' -bench . -benchtime 1x ./... >/dev/null

test-unit: ## the tests that need only redis-server (kfake stands in for Kafka)
	$(GO) test -count=1 ./...

fuzz: ## run each fuzz target for FUZZTIME (corpus in testdata/fuzz)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

demo: build ## the seed's story on the embedded default: sandbox, materialize --timeout 10s, get, multi-get
	FEATHR_BIN=$(BIN) scripts/demo.sh

bench: ## performance benchmark on a private Kafka broker and redis-server (BENCH_N=200000, BENCH_SOAK=5m, ...: see README)
	GO=$(GO) scripts/bench.sh

bench-tools: ## build bin/feathr-bench, the benchmark's producer, poller and report
	$(GO) build -o bin/feathr-bench ./bench

proto: ## regenerate the FeatureValue protobuf code
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) generate ./sink/...

clean: ## remove build output (keeps the Kafka jar cache)
	rm -rf bin
