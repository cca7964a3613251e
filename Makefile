# oneclaw — see README.md. Every target that needs tools runs `setup` first; setup is
# idempotent and takes seconds once its caches (outside the repository) are warm.
SHELL := /bin/bash
.DEFAULT_GOAL := help
TSX := node --import tsx
# Every target runs on the Node.js of hack/versions.env: setup installs it into the tool cache
# where the machine's node is older, and its directory comes first on PATH (while it does not
# exist yet, or on a machine whose node is new enough, the entry matches nothing).
ONECLAW_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/oneclaw
export ONECLAW_CACHE
NODE_VERSION := $(shell sed -n 's/^NODE_VERSION=//p' hack/versions.env)
export PATH := $(ONECLAW_CACHE)/node-$(NODE_VERSION)/bin:$(PATH)

.PHONY: help setup dev test test-only lint typecheck format bench clean-cache build image

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install everything the tests and dev environment need (idempotent, cached)
	@bash hack/setup.sh

dev: setup ## Run oneclaw locally: control plane, API, operator, a sample vault synced into a Secret
	@$(TSX) hack/dev.ts

test: setup typecheck lint test-only ## Install, type-check, lint and run every test against real peers

test-only: ## Run the test suites (assumes setup has run)
	@npx vitest run

lint: ## Lint and check formatting (Biome)
	@npx biome check .

format: ## Apply Biome formatting and safe fixes
	@npx biome check --write .

typecheck: ## TypeScript, strict, no emit
	@npx tsc --noEmit

build: ## Compile TypeScript to JavaScript in dist/ (what the container image runs)
	@npm run build

IMAGE ?= oneclaw:dev
image: ## Build the container image (IMAGE=oneclaw:dev) with docker or podman; not built in this CI
	@engine=$$(command -v docker || command -v podman) || { \
	  echo "make image: neither docker nor podman is installed; install one, or build the Dockerfile elsewhere" >&2; exit 1; }; \
	echo "$$engine build -t $(IMAGE) ."; "$$engine" build -t $(IMAGE) .

bench: setup build ## Build, run the benchmarks (the API's on the compiled server) and write bench/results/
	@$(TSX) bench/run.ts

clean-cache: ## Remove the tool cache (the next setup rebuilds it)
	@rm -rf "$${ONECLAW_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/oneclaw}"
