# sluice: the commands people run. See README.md.
SHELL := /bin/bash
# One persistent target dir outside the clone, so the bundled DuckDB build is reused.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sluice/target
# Test services (virtualenvs, downloads) are cached here; runtime data goes to .services/.
export SLUICE_CACHE_DIR ?= $(HOME)/.cache/sluice
export SLUICE_SERVICES_DIR ?= $(CURDIR)/.services

.PHONY: help build test demo lint fmt bench bench-rest bench-destinations fuzz

## List the commands with what they do.
help:
	@awk '/^## /{doc = doc (doc ? " " : "") substr($$0, 4); next} \
	      /^[a-z-]+:/{if (doc) {split($$1, t, ":"); printf "  make %-20s %s\n", t[1], doc}; doc = ""; next} \
	      {doc = ""}' $(MAKEFILE_LIST)

## Build the workspace (debug).
build:
	cargo build --workspace

## Run `make lint`, then every test, with every service the tests need started and stopped (scripts/test.sh).
test: lint
	bash scripts/test.sh

## Load the bundled sample into the embedded DuckDB and show the tables.
demo:
	bash scripts/demo.sh

## sluice against dlt on the same Forter listing (DuckDB, Postgres, Parquet), then the cargo benches.
## BENCH_ORDERS=1000000 for the big run; BENCH_TOOLS=sluice to leave dlt out. See README "Benchmarks".
bench:
	bash scripts/bench.sh

## The REST fan-out benchmark: 10 000 child requests, 20 ms latency, 500 req/s.
bench-rest:
	cargo run -p sluice-integration-tests --bin rest-bench -- 10000 20 500

## Bulk-write throughput of the destinations (DuckDB; Postgres when SLUICE_TEST_POSTGRES_URL is set).
bench-destinations:
	cargo run -p sluice-integration-tests --bin dest-bench -- 1000000

## The randomized tests (REST page splitter, normalizer, config parsers), side by side for
## SLUICE_FUZZ_SECONDS (600) each, from the corpus in fuzz/corpus/. A failure prints its seed:
## replay with SLUICE_FUZZ_SEED=N. A short run of each is part of `make test`.
fuzz:
	bash scripts/fuzz.sh

## Formatting, clippy, dependency rules (destinations use sluice-core only), each destination feature of the facade alone, docs; warnings denied (scripts/lint.sh).
lint:
	bash scripts/lint.sh

## Format the code.
fmt:
	cargo fmt --all
