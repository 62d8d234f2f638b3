# topicrpc — make run (the demo, no broker needed) and make test (everything,
# with a private RabbitMQ started from the installed rabbitmq-server when there is one).

GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT     ?= golang.org/x/perf/cmd/benchstat@latest
BIN           ?= bin
PKGS          ?= ./...
BENCHTIME     ?= 1s
BENCHCOUNT    ?= 5

# What topicrpc --version says of the build besides the VCS stamp.
VERSION_FLAGS ?= -X github.com/topicrpc/topicrpc/cmd/internal/cli.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) \
	-X github.com/topicrpc/topicrpc/cmd/internal/cli.buildCommit=$(shell git rev-parse HEAD 2>/dev/null)

# make package: the Debian package, built with nfpm (run as a tool, not a
# dependency of the module). VERSION: see scripts/version.sh.
NFPM          ?= github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
DIST          ?= dist
ARCH          ?= $(shell $(GO) env GOARCH)
VERSION       ?= $(shell scripts/version.sh)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)

.PHONY: package package-check
.PHONY: run build test test-short test-race test-faults bench lint fmt fuzz broker broker-stop cluster cluster-stop clean

run: ## the demo: an in-memory fleet and the classic session (built, not go run: go run exits 1 after a Ctrl+C the shell took)
	@$(GO) build -ldflags "$(VERSION_FLAGS)" -o $(BIN)/ ./cmd/topicrpc
	$(BIN)/topicrpc demo

build: ## the two binaries into ./bin
	$(GO) build -ldflags "$(VERSION_FLAGS)" -o $(BIN)/ ./cmd/topicrpc ./cmd/topicrpcd

package: ## dist/topicrpc_<version>_<arch>.deb: both programs, the topicrpcd systemd unit, /etc/topicrpc/topicrpcd.yaml, man pages, completions, the copyright file
	rm -rf $(DIST)/build && mkdir -p $(DIST)/build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags "-s -w $(VERSION_FLAGS)" -o $(DIST)/build/bin/ ./cmd/topicrpc ./cmd/topicrpcd
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./cmd/internal/gendocs $(DIST)/build/docs
	GO=$(GO) scripts/copyright.sh $(DIST)/build/docs/copyright
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) VERSION=$(VERSION) ARCH=$(ARCH) BIN=$(DIST)/build/bin DOCS=$(DIST)/build/docs \
		$(GO) run $(NFPM) package -p deb -f packaging/nfpm.yaml -t $(DIST)/topicrpc_$(VERSION)_$(ARCH).deb

package-check: package ## build the package, check its contents, unpack it into a temporary root and run the programs from there
	scripts/check-package.sh $(DIST)/topicrpc_$(VERSION)_$(ARCH).deb

test: ## every test, integration and end-to-end included, against a real RabbitMQ
	scripts/with-broker.sh $(GO) test -count=1 $(PKGS)

test-short: ## unit tests only: no broker, a few seconds
	$(GO) test -short -count=1 $(PKGS)

test-race: ## every test under the race detector
	scripts/with-broker.sh $(GO) test -race -count=1 $(PKGS)

test-faults: ## the fault tests (broker restarts)
	$(GO) test -count=1 -v -run . ./test/faults/

.PHONY: screenshots
screenshots: ## the web console's screenshots in docs/ (web-fleet.png, web-call.png), taken by its browser test
	$(GO) test -count=1 -run TestConsole ./test/browser/ -args -screenshots $(CURDIR)/docs

bench: ## topicrpc against hand-written baselines on one private broker, BENCHCOUNT rounds: bench.out (kept as docs/bench.txt), docs/BENCHMARKS.md
	BENCHCOUNT=$(BENCHCOUNT) BENCHTIME=$(BENCHTIME) GO=$(GO) scripts/with-broker.sh bench/run.sh

fuzz: ## each fuzz target for 30s
	$(GO) test ./domain -run '^$$' -fuzz FuzzIndexAgreesWithMatch -fuzztime 30s
	$(GO) test ./domain -run '^$$' -fuzz FuzzParseCommand -fuzztime 30s
	$(GO) test ./domain -run '^$$' -fuzz FuzzSignVerify -fuzztime 30s
	$(GO) test ./domain -run '^$$' -fuzz FuzzParsePublicKeys -fuzztime 30s
	$(GO) test ./app -run '^$$' -fuzz FuzzSplitArgs -fuzztime 30s
	$(GO) test ./app -run '^$$' -fuzz FuzzParsePolicy -fuzztime 30s
	$(GO) test ./adapters/amqp -run '^$$' -fuzz FuzzReplyable -fuzztime 30s

lint: ## gofmt, go mod tidy, go vet, staticcheck
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo 'go.mod/go.sum are not tidy: run go mod tidy'; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo 'gofmt: run make fmt'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w .

broker: ## start a private RabbitMQ for development; prints export lines
	scripts/broker.sh start

broker-stop:
	scripts/broker.sh stop

cluster: ## start a 3-node RabbitMQ cluster of private nodes for development; prints export lines (TOPICRPC_TEST_CLUSTER_URLS)
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

clean:
	rm -rf $(BIN) $(DIST)
