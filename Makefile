# The two commands: `make dev` and `make test`. See README.md.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Extra arguments for `cargo test --workspace`, e.g. make test TEST_ARGS='sign_in -- --nocapture'
TEST_ARGS ?=

.PHONY: help dev test lint fmt validate openapi clean-local bench

help:
	@echo "make dev          the API on http://127.0.0.1:$${PORT:-8080} against local emulators (Ctrl-C stops all)"
	@echo "make test         fmt check, clippy, unit + integration tests on emulators, template checks"
	@echo "make lint         fmt check, clippy, template checks"
	@echo "make fmt          format the code"
	@echo "make validate     sam validate, sam validate --lint, cfn-lint"
	@echo "make openapi      regenerate docs/openapi.json from the code"
	@echo "make clean-local  stop every local emulator, remove .cache/run"
	@echo "make bench        start-up, contention, flash-sale, model and CPU-per-operation benchmarks (docs/benchmarks.md); not part of make test"

dev:
	@bash infra/dev.sh

test:
	@echo "==> cargo fmt --all --check"
	@cargo fmt --all --check
	@echo "==> cargo clippy --workspace --all-targets -- -D warnings"
	@cargo clippy --workspace --all-targets -- -D warnings
	@echo "==> infra/test.sh: emulators, cargo test --workspace, template checks"
	@bash infra/test.sh $(TEST_ARGS)

lint:
	@echo "==> cargo fmt --all --check"
	@cargo fmt --all --check
	@echo "==> cargo clippy --workspace --all-targets -- -D warnings"
	@cargo clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory validate

fmt:
	@cargo fmt --all

validate:
	@. infra/lib.sh && ensure_venv && validate_template

openapi:
	@echo "==> docs/openapi.json"
	@cargo run -q -p dev-server -- openapi > docs/openapi.json.tmp
	@mv docs/openapi.json.tmp docs/openapi.json

# Prints numbers; fails only on a correctness check. BENCH_PART=startup|contention|flash|model|cpu, BENCH_RUNS=15.
bench:
	@bash infra/bench.sh

clean-local:
	@. infra/lib.sh && for dir in "$$RUN_DIR"/*/; do \
		[ -d "$$dir" ] || continue; \
		name="$$(basename "$$dir")"; echo "==> stopping $$name emulators"; stop_emulators "$$name"; \
	done
	@rm -rf .cache/run
