# Token Stats. `make run` starts the app, `make test` runs every test; see README.md.
GO      ?= go
BIN     := bin/tokenstats
VERSION ?= 0.1.0
LDFLAGS := -X github.com/tokenstats/tokenstats/app.version=$(VERSION)

.PHONY: all build run test deps build-deps vet fmt clean

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

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
