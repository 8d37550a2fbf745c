#!/usr/bin/env bash
# `make test` (after fmt and clippy): unit and integration tests against
# DynamoDB Local and moto on two free ports (so a running `make dev` is not
# disturbed), schemathesis against a dev server on them, then the three
# template checks. Extra arguments go to
# `cargo test --workspace`. Exits non-zero when anything failed.
set -euo pipefail

# shellcheck source=infra/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools

# Two distinct free ports, never the `make dev` defaults.
read -r DDB_PORT MOTO_PORT < <(free_ports 2)
[ -n "${MOTO_PORT:-}" ] || { _err "could not find two free ports"; exit 1; }

trap 'stop_emulators test' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_emulators test "$DDB_PORT" "$MOTO_PORT"

emulator_env "$DDB_PORT" "$MOTO_PORT"
load_bootstrap_env test # TABLE_NAME, queue URLs, bucket names, schedule group, MAIL_FROM
export APP_ENV=local
export JWT_SECRET="integration-test-secret-of-at-least-32-bytes"
export FRONTEND_URL="http://localhost:3000"
export MAIL_FROM

failed=()
_log "cargo test --workspace $*"
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$RUN_DIR/test/cargo-test.log" || failed+=("cargo test")
# One closing line for the whole run: cargo prints one per test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' \
    "$RUN_DIR/test/cargo-test.log" >"$RUN_DIR/test-summary"

# The API as a client sees it, fuzzed from its own OpenAPI document. A
# filtered run (extra arguments) is for a few tests and skips it.
if (($# == 0)); then
    _log "schemathesis against the dev server (infra/schemathesis.sh)"
    bash "$INFRA_DIR/schemathesis.sh" || failed+=("schemathesis")
fi

_log "template checks"
validate_template || failed+=("template checks")

cat "$RUN_DIR/test-summary"
if ((${#failed[@]})); then
    _err "failed: ${failed[*]}"
    exit 1
fi
_log "all tests and template checks passed"
