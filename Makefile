# eddy's build. Go 1.27 is fetched through the module proxy when the local Go is older.
export GOTOOLCHAIN := auto

GO      ?= go
# gofmt of the toolchain go.mod asks for: an older one cannot parse generic methods.
GOFMT   := $(shell $(GO) env GOROOT)/bin/gofmt
PKGS    := ./...
# Packages whose tests exercise concurrency run under the race detector.
RACE_PKGS := ./broker/... ./state/... ./serde/... ./runtime/... ./dsl/...

.PHONY: all build test test-unit test-race fuzz lint bench demo clean

all: build

build:
	$(GO) build $(PKGS)

test: lint build
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -race -short -timeout 15m $(RACE_PKGS)
	$(MAKE) fuzz

# Each fuzz target runs briefly; the corpus under testdata/fuzz is replayed by `go test` too.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandleRequest$$' -fuzztime 15s ./broker

lint:
	@out=$$($(GOFMT) -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) run ./internal/benchreport -out BENCHMARKS.md

# A word count and a page-view count on a broker started in-process; exits when done.
demo:
	$(GO) run ./cmd/eddy demo

clean:
	rm -rf bin
