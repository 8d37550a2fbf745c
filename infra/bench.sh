#!/usr/bin/env bash
# `make bench` (docs/benchmarks.md). Prints numbers; fails only when a
# correctness check fails. Never part of `make test`.
#
#   1. start-up: every Lambda function in functions/* (found from their
#      Cargo.toml, so new ones join) plus the hello-world baseline, each built
#      on its own with cargo lambda for x86_64 as `sam build` builds it, each
#      spawned BENCH_RUNS times (15) against a fake Runtime API served by the
#      `bench` binary; events-api also answers a first request that reads the
#      table, without and with its connection warmed during init;
#   2. contention: the release dev server on the same emulators, many clients
#      holding the same units / places at once.
#
#   BENCH_PART=all|startup|contention   BENCH_RUNS=15
# State and logs: .cache/run/bench/. DynamoDB Local, moto and the dev server
# run on free ports and are stopped on exit.
set -euo pipefail

# shellcheck source=infra/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PART="${BENCH_PART:-all}"
RUNS="${BENCH_RUNS:-15}"
case "$PART" in all | startup | contention) ;; *)
    _err "BENCH_PART must be all, startup or contention"
    exit 2
    ;;
esac
LAMBDA_DIR=target/lambda-x86_64     # the function bootstraps (+ hello-world)
TOOLS_DIR=target/lambda-x86_64-bench # the dev server and the bench binary
STATE="$RUN_DIR/bench"

ensure_tools
export PATH="$VENV/bin:$PATH" # `cargo lambda` is the venv's cargo-lambda
mkdir -p "$STATE"

# --- the functions --------------------------------------------------------------
packages=() bins=() triggers=()
for manifest in functions/*/Cargo.toml; do
    package="$(awk -F'"' '/^\[/ { section = $0 } section == "[package]" && /^name *=/ { print $2; exit }' "$manifest")"
    bin="$(awk -F'"' '/^\[/ { section = $0 } section == "[[bin]]" && /^name *=/ { print $2; exit }' "$manifest")"
    packages+=("$package")
    bins+=("${bin:-$package}")
    # API functions answer an API Gateway event; queue workers get an (empty)
    # SQS batch; the scheduler the sweep's EventBridge input.
    if ! grep -q '^lambda_http' "$manifest"; then
        if grep -q '^aws_lambda_events' "$manifest"; then
            triggers+=("${bin:-$package}=sqs")
        else
            triggers+=("${bin:-$package}=schedule")
        fi
    fi
done
((${#bins[@]})) || {
    _err "no functions/*/Cargo.toml found"
    exit 1
}

echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -r)"
build_started=$SECONDS
# One cargo invocation per function, as `sam build` runs them (template.yaml: each
# CodeUri is the function's package): cargo then resolves that package's features
# only, so the bootstrap measured is the one that ships. Built together, the
# functions would share one feature set and each link every client. The shared
# target/ still compiles the release AWS SDK once per distinct feature set.
# x86_64 only: the aarch64 std may be missing here (docs/benchmarks.md).
for package in "${packages[@]}" hello-world events-api-warm; do
    _log "cargo lambda build --release --x86-64 -p $package"
    cargo lambda build --release --x86-64 --lambda-dir "$LAMBDA_DIR" -p "$package"
done
functions_seconds=$((SECONDS - build_started))
# The dev server and bench go through cargo lambda too: same RUSTFLAGS
# (-C target-cpu=haswell) and target dir, so the release SDK above is reused
# instead of compiled a second time into target/release.
# The dev server only for the contention part.
tools=(-p bench)
[ "$PART" = startup ] || tools+=(-p dev-server)
_log "cargo lambda build --release --x86-64 ${tools[*]}"
cargo lambda build --release --x86-64 --lambda-dir "$TOOLS_DIR" "${tools[@]}"
BENCH="$TOOLS_DIR/bench/bootstrap"
DEV_SERVER="$TOOLS_DIR/dev-server/bootstrap"
build_seconds=$((SECONDS - build_started))

# --- emulators ------------------------------------------------------------------
read -r DDB_PORT MOTO_PORT API_PORT < <(free_ports 3)
[ -n "${API_PORT:-}" ] || {
    _err "could not find three free ports"
    exit 1
}

cleanup() {
    _stop_pidfile "$STATE/dev-server.pid"
    stop_emulators bench
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_emulators bench "$DDB_PORT" "$MOTO_PORT"
emulator_env "$DDB_PORT" "$MOTO_PORT"
load_bootstrap_env bench # TABLE_NAME, queue URLs, bucket names, MAIL_FROM
export APP_ENV=local
export JWT_SECRET="bench-only-jwt-secret-of-at-least-32-bytes"
export FRONTEND_URL="http://localhost:3000"
export MAIL_FROM RUST_LOG=info
# What each function sees besides the Lambda runtime's own variables: its
# template settings, local flavour (nothing else from this shell).
FUNCTION_ENV="$STATE/function.env"
{
    grep -v '^#' "$STATE/env" || true # TABLE_NAME, queue URLs, bucket names, MAIL_FROM
    printf '%s\n' "APP_ENV=$APP_ENV" "JWT_SECRET=$JWT_SECRET" "FRONTEND_URL=$FRONTEND_URL" "RUST_LOG=$RUST_LOG" \
        "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL" "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB"
} >"$FUNCTION_ENV"

failed=()

# --- 1. start-up ------------------------------------------------------------------
if [ "$PART" != contention ]; then
    _log "start-up: ${bins[*]} against hello-world, $RUNS runs each"
    rm -f "$STATE"/startup-*.log
    targets=("hello-world=$LAMBDA_DIR/hello-world/bootstrap")
    for bin in "${bins[@]}"; do targets+=("$bin=$LAMBDA_DIR/$bin/bootstrap"); done
    # A real cold start: the first request reads the table (a GetItem of an
    # event that does not exist, answered 404), without and with the
    # connection warmed during init (infra/bench/events-api-warm).
    targets+=("events-api:get-event=$LAMBDA_DIR/events-api/bootstrap"
        "events-api-warm=$LAMBDA_DIR/events-api-warm/bootstrap"
        "events-api-warm:get-event=$LAMBDA_DIR/events-api-warm/bootstrap")
    probe=/v1/events/bench-no-such-event
    "$BENCH" startup --runs "$RUNS" --log-dir "$STATE" --env-file "$FUNCTION_ENV" \
        --probes "events-api:get-event=$probe,events-api-warm:get-event=$probe" \
        --triggers "$(
            IFS=,
            echo "${triggers[*]}"
        )" "${targets[@]}" || failed+=(start-up)
fi

# --- 2. contention ------------------------------------------------------------------
if [ "$PART" != startup ]; then
    _log "contention: release dev server on 127.0.0.1:$API_PORT (log: ${STATE#"$REPO_ROOT"/}/dev-server.log)"
    (
        export PORT="$API_PORT" BOOTSTRAP_DEVELOPER_EMAIL=bench-dev@example.com
        export STRIPE_API_BASE="http://127.0.0.1:$API_PORT/"
        export MAGIC_LINK_LIMIT_PER_IP=100000 MAGIC_LINK_LIMIT_PER_EMAIL=100000
        exec "$DEV_SERVER"
    ) </dev/null >"$STATE/dev-server.log" 2>"$STATE/dev-server.err" &
    _write_pidfile "$STATE/dev-server.pid" "$!"
    _wait_http "http://127.0.0.1:$API_PORT/v1/health/live" "$STATE/dev-server.pid" "dev server" "$STATE/dev-server.err" 60
    "$BENCH" contention --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        --log "$STATE/dev-server.log" || failed+=(contention)
fi

echo
_log "make bench: ${SECONDS} s in all, ${build_seconds} s of it building (${functions_seconds} s the functions, one by one)"
if ((${#failed[@]})); then
    _err "failed: ${failed[*]} (see above: a correctness check, or the set-up)"
    exit 1
fi
