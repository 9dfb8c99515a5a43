# Token Stats. `make run` starts the app, `make test` runs every test; see README.md.
GO      ?= go
BIN     := bin/tokenstats
VERSION ?= 0.1.0
LDFLAGS := -X github.com/tokenstats/tokenstats/app.version=$(VERSION)

.PHONY: all build run test deps build-deps vet fmt clean package bench bench-proxy fuzz

all: build

# The cgo headers Fyne needs; on Debian/Ubuntu installed when missing (sudo asked if not root).
build-deps:
	@bash .ci/install-deps --build-only

# Everything the tests use too: Xvfb, D-Bus, Chromium.
deps:
	@bash .ci/install-deps

build: build-deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

run: build
	./$(BIN) $(ARGS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (echo "gofmt needed:"; gofmt -l .; exit 1)

test: deps vet
	$(GO) test -race -count=1 -timeout 30m ./...

# Benchmarks and the HTTP load test (issue 6); writes docs/benchmarks.md. Data sets are cached in
# $(BENCH_DIR), so a rerun skips generating them. See docs/benchmarks.md for each step.
BENCH_DIR ?= .bench
bench: build-deps
	@mkdir -p $(BENCH_DIR)
	@date +%s > $(BENCH_DIR)/start
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BENCH_DIR)/tokenstats .
	$(GO) build -o $(BENCH_DIR)/loadgen ./cmd/loadgen
	TOKENSTATS_BENCH_DIR=$(abspath $(BENCH_DIR)) $(GO) test -run '^$$' -bench . -benchtime 2s -timeout 60m ./stats/ > $(BENCH_DIR)/store.txt 2>&1; \
		rc=$$?; cat $(BENCH_DIR)/store.txt; exit $$rc
	TOKENSTATS_LONG=1 $(GO) test -count=1 -run TestCrashKeepsAcknowledgedRecords -v -timeout 20m ./app/ > $(BENCH_DIR)/crash.txt 2>&1; \
		rc=$$?; tail -5 $(BENCH_DIR)/crash.txt; exit $$rc
	$(MAKE) --no-print-directory bench-proxy > $(BENCH_DIR)/proxy.txt 2>&1; rc=$$?; grep -E '^Benchmark' $(BENCH_DIR)/proxy.txt; exit $$rc
	$(BENCH_DIR)/loadgen run -bin $(BENCH_DIR)/tokenstats -dir $(BENCH_DIR) -out $(BENCH_DIR)/http.json
	xvfb-run -a -s "-screen 0 1280x800x24" $(BENCH_DIR)/loadgen desktop -bin $(BENCH_DIR)/tokenstats -dir $(BENCH_DIR) \
		-out $(BENCH_DIR)/desktop.json
	$(BENCH_DIR)/loadgen report -desktop $(BENCH_DIR)/desktop.json -store $(BENCH_DIR)/store.txt -http $(BENCH_DIR)/http.json -crash $(BENCH_DIR)/crash.txt \
		-proxy $(BENCH_DIR)/proxy.txt \
		-elapsed "$$(( $$(date +%s) - $$(cat $(BENCH_DIR)/start) )) s" -out docs/benchmarks.md

# The pass-through's cost (issue 10), over loopback against a local fake upstream: the latency it adds
# to a call and to a stream's first byte (medians of the direct and the pass-through runs), and rounds
# of 500 concurrent streams (goroutines and heap before and after). Part of make bench; run it alone.
bench-proxy:
	$(GO) test -run '^$$' -bench 'BenchmarkProxy(Call|FirstByte)' -benchtime 5000x -count 1 ./localapi/
	$(GO) test -run '^$$' -bench 'BenchmarkProxyConcurrentStreams' -benchtime 10x -count 1 ./localapi/

# Fuzzing beyond the seed corpus (which `make test` runs): FUZZTIME per target.
FUZZTIME ?= 3m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecords$$' -fuzztime $(FUZZTIME) ./usage/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./usage/
	$(GO) test -run '^$$' -fuzz '^FuzzAnswerScanner$$' -fuzztime $(FUZZTIME) ./usage/

# The platform package, by `fyne package` (fyne.io/tools) from FyneApp.toml, into dist/. On Linux a
# tar.xz holding the binary, a .desktop entry and the icon, with a Makefile that installs them
# (`make user-install` or `sudo make install`); on macOS an .app, on Windows an .exe with the icon.
FYNE_TOOLS ?= fyne.io/tools/cmd/fyne@v1.7.4
# fyne package rewrites FyneApp.toml (it bumps Build); the copy keeps the tree clean.
package: build-deps
	@mkdir -p dist && cp FyneApp.toml dist/.FyneApp.toml
	$(GO) run $(FYNE_TOOLS) package --release --app-version $(VERSION); s=$$?; \
		mv dist/.FyneApp.toml FyneApp.toml; exit $$s
	@for f in "Token Stats.tar.xz" "Token Stats.app" "Token Stats.exe"; do \
		if [ -e "$$f" ]; then rm -rf "dist/$$f"; mv "$$f" dist/ && echo "dist/$$f"; fi; done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
