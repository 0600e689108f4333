# ordermesh. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Development signing key: `make run` accepts the tokens `make token`
# prints. Production sets JWT_SIGNING_KEY or JWT_JWKS_URL itself.
JWT_SIGNING_KEY ?= ordermesh-dev-signing-key-not-for-production
export JWT_SIGNING_KEY

PROTOVALIDATE_VERSION := v1.2.2
PG_ENV = eval "$$(scripts/postgres.sh)"
GO_TEST_FLAGS ?=
# The commit the binaries report (`ordermesh version`, /healthz), with
# -dirty for uncommitted changes: `go run` records none itself.
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
GO_LDFLAGS := -X github.com/ordermesh/ordermesh/internal/platform/buildinfo.Revision=$(REVISION)

.PHONY: help
help: ## Show this help
	@scripts/make-help.sh $(MAKEFILE_LIST)

# The ordermesh binary `make run`, `make reset` and `make token` use, built
# when a source it embeds changed (make's own check takes milliseconds;
# `go run` relinks every time) or the commit it reports did.
BIN := .build/bin
ORDERMESH_SOURCES := $(shell find app cmd/ordermesh internal services sqlc gen/go -type f \( -name '*.go' -o -name '*.sql' -o -name '*.binpb' \) -not -name '*_test.go' -not -path '*/node_modules/*' 2>/dev/null) \
  $(wildcard internal/console/dist/*) go.mod go.sum

$(BIN)/ordermesh: $(ORDERMESH_SOURCES) $(BIN)/.revision
	@if [[ -e $@ ]]; then echo "building $@ (the code changed; seconds)" >&2; \
	  else echo "building $@ for the first time: downloading the Go modules and compiling every package: about 2 minutes on a 2-core machine with empty Go caches, more on a slow network (later builds take seconds)" >&2; fi
	@start=$$SECONDS; go build -ldflags "$(GO_LDFLAGS)" -o $@ ./cmd/ordermesh; \
	  echo "built $@ in $$((SECONDS - start)) s" >&2

$(BIN)/.revision: FORCE
	@mkdir -p $(@D); [[ "$$(cat $@ 2>/dev/null)" == "$(REVISION)" ]] || echo "$(REVISION)" > $@

.PHONY: FORCE
FORCE:

.PHONY: run
run: $(BIN)/ordermesh ## Run all five services in one process on ADDR (default :8080; every service's URL follows it; finds or starts PostgreSQL)
	@$(PG_ENV); DEV_BANNER=true $(BIN)/ordermesh

.PHONY: reset
reset: $(BIN)/ordermesh ## Drop the five databases `make run` uses, so the next start is fresh (refused while the mesh runs)
	@$(PG_ENV); $(BIN)/ordermesh reset

.PHONY: tools
tools: ## Build the development tools pinned in tools/go.mod once (buf, grpcurl, sqlc, golangci-lint, the protoc plugins) into .build/tools, with progress; scripts/tool runs them
	@scripts/tool --build-all

.PHONY: build
build: ## Build every binary into ./bin
	go build -trimpath -ldflags "$(GO_LDFLAGS)" -o bin/ ./cmd/...

.PHONY: test
test: test-go test-ts ## Run every test (Go with -race, and the TypeScript client)

.PHONY: test-go
test-go: prometheus ## Run the Go tests with -race against the real PostgreSQL (and a real Prometheus for the rules and dashboards)
	@$(PG_ENV); ORDERMESH_REQUIRE_PROMETHEUS=1 go test -race -count=1 $(GO_TEST_FLAGS) ./... ./gen/go/...

# package:target of every fuzz target; `make fuzz` runs each for FUZZTIME,
# a count of inputs by default: a duration (10s) races Go's fuzzing engine
# at its deadline on a busy machine and fails with "context deadline
# exceeded" having found nothing (golang/go#75804).
FUZZ_TARGETS = ./internal/platform/pagetoken:FuzzDecode ./internal/platform/pagetoken:FuzzRoundTrip \
  ./internal/platform/events:FuzzEnvelope ./e2e:FuzzPlaceOrderJSON ./e2e:FuzzAddItemJSON \
  ./e2e:FuzzMoneyAndAddress
FUZZTIME ?= 3000x

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 3000x: inputs; or a duration) against the real PostgreSQL; a failing input lands in testdata/fuzz
	@$(PG_ENV); mkdir -p .build; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== fuzz $$name ($$pkg, $(FUZZTIME))"; \
	  if ! go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg > .build/fuzz.log 2>&1; then \
	    grep -v '^fuzz: elapsed' .build/fuzz.log; exit 1; fi; \
	  grep -E '^fuzz: elapsed' .build/fuzz.log | tail -n 1; done

.PHONY: chaos
chaos: ## Kill the mesh twice and restart PostgreSQL under steady checkouts, on a throwaway cluster; prints "chaos ... invariants=ok" (about a minute)
	@scripts/chaos.sh

.PHONY: prometheus
prometheus: ## Install promtool and prometheus (Debian's package) when missing
	@scripts/prometheus.sh

.PHONY: rules-test
rules-test: prometheus ## Check the alert and SLO rules and run their unit tests with promtool
	cd helm/ordermesh/rules && promtool check rules ordermesh.rules.yaml && promtool test rules ordermesh.rules.test.yaml

.PHONY: test-ts
test-ts: ts chromium ## Run the TypeScript tests against a real server: node --test, the packed package under tsc --strict, the browser page and the web console in headless Chromium (screenshots in .build/console)
	@$(PG_ENV); go test -race -count=1 -tags tsclient -run 'TestTypeScript(Client|Package)|TestBrowserCheckout|TestConsole$$' $(GO_TEST_FLAGS) ./e2e/

.PHONY: chromium
chromium: ## Install headless Chromium (Debian's package) when missing, for the browser test
	@scripts/chromium.sh

.PHONY: checkout-ts
checkout-ts: ts $(BIN)/ordermesh ## Place one checkout through the TypeScript client against a running `make run` at ORDERMESH_URL (default http://localhost:8080)
	@cd gen/ts && ORDERMESH_URL=$${ORDERMESH_URL:-http://localhost:8080} \
	  ORDERMESH_MERCHANT_TOKEN=$$(../../$(BIN)/ordermesh token -role merchant -user ts-merchant) \
	  ORDERMESH_CUSTOMER_TOKEN=$$(../../$(BIN)/ordermesh token -role customer -user ts-shopper) \
	  ORDERMESH_CUSTOMER_ID=ts-shopper node --test --test-reporter=spec test/checkout.test.mjs

.PHONY: ts
ts: gen/ts/node_modules ## Build the generated TypeScript package (gen/ts/dist)
	cd gen/ts && npm run --silent build

gen/ts/node_modules: gen/ts/package.json gen/ts/package-lock.json
	cd gen/ts && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: bench-saga
bench-saga: ## Drive concurrent shoppers through the whole saga; prints a "saga ..." line and one per service (BENCH_FLAGS="-stall cart": a stalled subscriber, a "stall ..." line; "-warmup 5s": tables with rows and statistics; "-otlp": every span exported to a local endpoint, "saga_telemetry" lines; "-duration 120s -otlp-alternate 10s": tracing on and off in turn, "saga_alternate" compares adjacent windows)
	@$(PG_ENV); go run ./cmd/bench-saga $(BENCH_FLAGS)

.PHONY: bench-hotpath
bench-hotpath: ## Batched vs naive reservations: in process (BenchmarkReserve lines), then over RPC ("hotpath ..." and "ratio ..." lines)
	@$(PG_ENV); go test -run '^$$' -bench BenchmarkReserve -benchtime 3s ./services/inventory/
	@$(PG_ENV); go run ./cmd/bench-hotpath $(BENCH_FLAGS)

.PHONY: flash-sale
flash-sale: ## Race 2,000 buyers for 10,000 units through the saga of a running `make run` at ORDERMESH_URL (default http://localhost:8080)
	@$(PG_ENV); go run ./cmd/flash-sale $(FLASH_FLAGS)

# k6 is AGPL-licensed, so this repository neither pins nor installs it;
# `make k6` runs the k6 on PATH (or K6=/path/to/k6). Where k6 cannot be
# had, `make flash-sale` is the same scenario in Go.
K6 ?= k6
K6_FLAGS ?=
.PHONY: k6
k6: ## Run k6/flash-sale.js against a running `make run` at ORDERMESH_URL (K6_FLAGS="--vus 20 --duration 10s"; needs k6 on PATH; `make flash-sale` is the same without it)
	@command -v $(K6) >/dev/null 2>&1 || { echo "k6 is not installed: get it from your package manager or https://grafana.com/docs/k6/latest/set-up/install-k6/ (this repository does not pin it: k6 is AGPL-licensed). Without it, \`make flash-sale\` runs the same flash sale in Go." >&2; exit 1; }
	$(K6) run -e JWT_SIGNING_KEY -e ORDERMESH_URL=$${ORDERMESH_URL:-http://localhost:8080} $(K6_FLAGS) k6/flash-sale.js

# Images are named $(IMAGE_REPO)/<service>:$(IMAGE_TAG); the chart, kind-up
# and k8s-e2e use the same names.
IMAGE_REPO ?= ordermesh
# Evaluated once: a commit during `make k8s-e2e` must not tag the chart's
# images differently from the ones it built.
ifeq ($(origin IMAGE_TAG),undefined)
IMAGE_TAG := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
IMAGES_DIR := .build/images

.PHONY: images
images: ## Build one OCI image per service, the gateway, smoke and steady (the e2e load) as tarballs in .build/images; PUSH=<registry>/ordermesh pushes instead
	go run ./cmd/images -out $(IMAGES_DIR) -repo $(IMAGE_REPO) -tag $(IMAGE_TAG) $(if $(PUSH),-push $(PUSH))

.PHONY: kind-up
kind-up: images ## Laptop: create a kind cluster, load the images, install the chart, smoke a checkout with buf curl (needs Docker, kubectl)
	@IMAGE_TAG=$(IMAGE_TAG) scripts/kind-up.sh

.PHONY: kind-down
kind-down: ## Delete the kind cluster kind-up made
	cd tools/kube && GOWORK=off go tool kind delete cluster --name $${KIND_CLUSTER:-ordermesh}

.PHONY: kind-observability
kind-observability: ## Add Grafana, Tempo, Prometheus, Loki and Pyroscope to the kind cluster, wired to the mesh (needs their chart repositories)
	@IMAGE_TAG=$(IMAGE_TAG) scripts/kind-observability.sh

.PHONY: chart-dryrun
chart-dryrun: ## Server-side dry-run of every chart variant against a real kube-apiserver + etcd (built once by ../shared/k8s-lab)
	@scripts/chart-dryrun.sh

.PHONY: k8s-e2e
k8s-e2e: images ## On any cluster (KUBECONFIG=...): load images, install the chart, smoke a checkout and a compensation through the gateway, check invariants and the spread over replicas, roll out, roll back, restart and scale under load with 0 failed calls, reinstall, uninstall
	@KUBECONFIG="$(KUBECONFIG)" IMAGE_TAG=$(IMAGE_TAG) IMAGES_DIR=$(IMAGES_DIR) scripts/k8s-e2e.sh

.PHONY: token
token: $(BIN)/ordermesh ## Print a development token: make token ROLE=merchant USER=alice, or a service's own: make token SERVICE=order
	@$(BIN)/ordermesh token -role "$(or $(ROLE),customer)" -user "$(TOKEN_USER)" $(if $(SERVICE),-service "$(SERVICE)")

# USER is also the login name in the environment; only a USER given on the
# command line names the token's subject.
TOKEN_USER = $(if $(filter command line,$(origin USER)),$(USER),alice)

.PHONY: protodeps
protodeps: third_party/protovalidate/buf/validate/validate.proto

# protovalidate's .proto sources come from its Go module: there is no
# buf.build registry here.
third_party/protovalidate/buf/validate/validate.proto: Makefile
	@dir=$$(go mod download -json github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	mkdir -p $(@D) && install -m 0644 "$$dir/proto/protovalidate/buf/validate/validate.proto" $@

.PHONY: generate
generate: protodeps gen/ts/node_modules ## Regenerate Protobuf (Go, TypeScript, the schema with comments in gen/go/schema) and sqlc code, the tables that follow from the services' components (cmd/meshgen), the console's bundle and docs/configuration.md
	scripts/tool buf format -w
	scripts/tool buf generate
	scripts/tool buf build --as-file-descriptor-set -o gen/go/schema/ordermesh.binpb
	scripts/tool sqlc generate
	cd gen/go && go mod tidy
	go run ./cmd/meshgen
	$(MAKE) --no-print-directory console
	scripts/config-doc.sh

.PHONY: config-doc
config-doc: ## Write docs/configuration.md, every environment variable, from the binaries' help (part of generate)
	scripts/config-doc.sh

.PHONY: console
console: ## Bundle the operator's web console (internal/console/web, TypeScript) into internal/console/dist, which the binaries embed
	cd internal/console/web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

.PHONY: checkgenerate
checkgenerate: generate ## Fail when generated code is stale
	@test -z "$$(git status --porcelain -- $(GENERATED))" || \
	  { echo "generated code is stale; run 'make generate' and commit:"; git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; }

# What `make generate` writes: buf output, formatted protos, sqlc output,
# meshgen's tables (the gateway's, the chart's call graph, the depguard
# rules and the README's diagram), the console's bundle, the
# configuration reference.
GENERATED = gen proto third_party ':(glob)services/*/internal/store/*db/**' internal/platform/events/eventsdb internal/meshtable \
  helm/ordermesh/templates/_mesh.tpl .golangci.yml README.md internal/console/dist docs/configuration.md

.PHONY: lint
lint: protodeps ## Lint Protobuf (buf lint, buf format) and Go (golangci-lint)
	scripts/tool buf lint
	scripts/tool buf format -d --exit-code
	scripts/tool golangci-lint run ./...
	scripts/check-js.sh k6/flash-sale.js

BREAKING_AGAINST ?= .git\#branch=main
.PHONY: breaking
breaking: protodeps ## Check the API for breaking changes against BREAKING_AGAINST (default: main)
	scripts/tool buf breaking --against '$(BREAKING_AGAINST)'

# The Go client module (gen/go) promises the oldest Go its go directive
# names; this builds it and examples/go-client with that very toolchain
# (fetched from the module proxy), outside the workspace.
GO_CLIENT_MIN_GO := go1.24.0
.PHONY: check-go-client
check-go-client: ## Build gen/go and examples/go-client with GOWORK=off and the oldest Go gen/go declares
	cd gen/go && GOWORK=off GOTOOLCHAIN=$(GO_CLIENT_MIN_GO) go vet ./...
	cd examples/go-client && GOWORK=off GOTOOLCHAIN=$(GO_CLIENT_MIN_GO) go vet . && GOWORK=off GOTOOLCHAIN=$(GO_CLIENT_MIN_GO) go build -o /dev/null .

.PHONY: check-modules
check-modules: ## Each Go module alone (GOWORK=off): go.mod tidy, and the service module and gen/go build and pass go vet
	scripts/check-modules.sh

.PHONY: vulncheck
vulncheck: ## govulncheck every module against golang.org/x/vulndb pinned in tools/vuln; fails on a vulnerable module the code calls
	scripts/vulncheck.sh

.PHONY: tag-go-client
tag-go-client: ## Tag a release of the Go client module: make tag-go-client VERSION=v0.2.0 (tag gen/go/v0.2.0)
	@scripts/tag-go-client.sh "$(VERSION)"

.PHONY: clean
clean: ## Remove build output and the throwaway PostgreSQL
	-scripts/postgres.sh --stop
	rm -rf bin .build .data gen/ts/dist
