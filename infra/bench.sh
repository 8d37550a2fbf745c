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
#      holding the same units / places at once;
#   3. flash: the flash sale, the dev server's DynamoDB conflicting and
#      throttling as on AWS (LOCAL_DDB_CONTENTION=1), its trace read back;
#   4. model: real operations recorded through the layer's trace (conflicts
#      off), replayed at scale in a simulation of DynamoDB's rules; ends with
#      the `model:` line.
#
#   5. cpu: CPU time per operation of our process (the IAM proxy's threads
#      apart) and of each emulator, from /proc;
#   6. webhooks: a booking's confirmation to its webhook's arrival at a
#      receiver in the bench, one at a time and in a burst of 1,000.
#
#   BENCH_PART=all|startup|contention|flash|model|cpu|webhooks   BENCH_RUNS=15
#   BENCH_BUILD=release|debug (debug: cargo build, for trying the bench
#   itself; its numbers are not comparable; not for startup)
#   BENCH_FLASH_ARGS / BENCH_MODEL_ARGS / BENCH_CPU_ARGS / BENCH_WEBHOOKS_ARGS: extra `bench flash` /
#   `bench model` / `bench cpu` / `bench webhooks`
#   options (infra/bench/src/main.rs), e.g. BENCH_MODEL_ARGS="--record-secs 120"
#   BENCH_DEV_SERVER=<path>: run that dev-server binary instead of the one built
#   (an earlier build kept aside, for back-to-back comparisons on a noisy machine)
# State and logs: .cache/run/bench/. DynamoDB Local, moto and the dev server
# run on free ports and are stopped on exit.
set -euo pipefail

# shellcheck source=infra/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PART="${BENCH_PART:-all}"
RUNS="${BENCH_RUNS:-15}"
BUILD="${BENCH_BUILD:-release}"
case "$PART" in all | startup | contention | flash | model | cpu | webhooks) ;; *)
    _err "BENCH_PART must be all, startup, contention, flash, model, cpu or webhooks"
    exit 2
    ;;
esac
case "$BUILD" in release) ;; debug) if [ "$PART" = all ] || [ "$PART" = startup ]; then
    _err "BENCH_BUILD=debug is for contention, flash, model, cpu or webhooks only"
    exit 2
fi ;;
*)
    _err "BENCH_BUILD must be release or debug"
    exit 2
    ;;
esac
runs() { [ "$PART" = all ] || [ "$PART" = "$1" ]; }
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
if runs startup; then
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
fi
functions_seconds=$((SECONDS - build_started))
# The dev server only when a part runs it.
tools=(-p bench)
[ "$PART" = startup ] || tools+=(-p dev-server)
if [ "$BUILD" = debug ]; then
    _log "cargo build ${tools[*]} (debug: numbers not comparable)"
    cargo build "${tools[@]}"
    BENCH=target/debug/bench
    DEV_SERVER=target/debug/dev-server
else
    # The dev server and bench go through cargo lambda too: same RUSTFLAGS
    # (-C target-cpu=haswell) and target dir, so the release SDK above is reused
    # instead of compiled a second time into target/release.
    _log "cargo lambda build --release --x86-64 ${tools[*]}"
    cargo lambda build --release --x86-64 --lambda-dir "$TOOLS_DIR" "${tools[@]}"
    BENCH="$TOOLS_DIR/bench/bootstrap"
    DEV_SERVER="$TOOLS_DIR/dev-server/bootstrap"
fi
build_seconds=$((SECONDS - build_started))
DEV_SERVER="${BENCH_DEV_SERVER:-$DEV_SERVER}"

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

# The dev server on $API_PORT with extra environment (NAME=VALUE..); its
# stdout (JSON log lines) in $STATE/<log>.log. One at a time.
start_dev_server() {
    local log="$1"
    shift
    _log "dev server ($BUILD) on 127.0.0.1:$API_PORT ${*} (log: ${STATE#"$REPO_ROOT"/}/$log.log)"
    (
        export PORT="$API_PORT" BOOTSTRAP_DEVELOPER_EMAIL=bench-dev@example.com
        export STRIPE_API_BASE="http://127.0.0.1:$API_PORT/"
        export MAGIC_LINK_LIMIT_PER_IP=100000 MAGIC_LINK_LIMIT_PER_EMAIL=100000
        # Every bench client is 127.0.0.1 and a few buyers: the limits are
        # counted (their writes are part of each request's cost) but never met.
        export RATE_LIMIT_API_PER_IP=100000000 RATE_LIMIT_HOLDS_PER_IP=100000000
        export RATE_LIMIT_HOLDS_PER_USER=100000000 RATE_LIMIT_PAYMENTS_PER_USER=100000000
        (($#)) && export "$@"
        exec "$DEV_SERVER"
    ) </dev/null >"$STATE/$log.log" 2>"$STATE/$log.err" &
    _write_pidfile "$STATE/dev-server.pid" "$!"
    _wait_http "http://127.0.0.1:$API_PORT/v1/health/live" "$STATE/dev-server.pid" "dev server" "$STATE/$log.err" 60
}

# --- 1. start-up ------------------------------------------------------------------
if runs startup; then
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
if runs contention; then
    start_dev_server dev-server
    "$BENCH" contention --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        --log "$STATE/dev-server.log" || failed+=(contention)
    _stop_pidfile "$STATE/dev-server.pid"
fi

# --- 3. flash sale through the contention layer --------------------------------------
if runs flash; then
    start_dev_server flash LOCAL_DDB_CONTENTION=1 "LOCAL_DDB_TRACE=$STATE/flash-trace.jsonl"
    # shellcheck disable=SC2086 # BENCH_FLASH_ARGS is a list of options
    "$BENCH" flash --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        --trace "$STATE/flash-trace.jsonl" ${BENCH_FLASH_ARGS:-} || failed+=(flash)
    _stop_pidfile "$STATE/dev-server.pid"
fi

# --- 4. the model --------------------------------------------------------------------
if runs model; then
    # The trace alone: nothing conflicts or throttles while recording. No
    # sweep during the recording (it would join some operation's lines).
    start_dev_server model "LOCAL_DDB_TRACE=$STATE/model-trace.jsonl" SWEEP_SECONDS=86400
    # shellcheck disable=SC2086 # BENCH_MODEL_ARGS is a list of options
    "$BENCH" model --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        --trace "$STATE/model-trace.jsonl" --segments "$STATE/model-segments.json" \
        ${BENCH_MODEL_ARGS:-} || failed+=(model)
    _stop_pidfile "$STATE/dev-server.pid"
fi

# --- 5. CPU per operation -----------------------------------------------------------
if runs cpu; then
    # No sweep: only the requests measured (and the queue pollers, whose
    # share the idle row shows) use the CPU. API.md's per-user limits, which
    # are counted hit by hit as in production (each buyer makes about 13
    # holds and 7 checkouts here); the per-address ones stay raised, counted
    # in blocks of 10 (6 to 10 at API.md's figures: shared::limits).
    start_dev_server cpu SWEEP_SECONDS=86400 RATE_LIMIT_HOLDS_PER_USER=20 RATE_LIMIT_PAYMENTS_PER_USER=20
    pid_of() { local pid _; read -r pid _ <"$1" && echo "$pid"; }
    "$BENCH" cpu --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        --server-pid "$(pid_of "$STATE/dev-server.pid")" \
        --emulators "dynamodb=$(pid_of "$STATE/dynamodb.pid"),moto=$(pid_of "$STATE/moto.pid")" \
        ${BENCH_CPU_ARGS:-} || failed+=(cpu)
    _stop_pidfile "$STATE/dev-server.pid"
fi

# --- 6. webhook delivery ------------------------------------------------------------
if runs webhooks; then
    # The stream read from now on: after the other parts it holds their
    # changes, which a replay would deliver too. No sweep.
    start_dev_server webhooks SWEEP_SECONDS=86400 LOCAL_STREAM_START=now
    # shellcheck disable=SC2086 # BENCH_WEBHOOKS_ARGS is a list of options
    "$BENCH" webhooks --api "http://127.0.0.1:$API_PORT" --moto "$AWS_ENDPOINT_URL" \
        ${BENCH_WEBHOOKS_ARGS:-} || failed+=(webhooks)
    _stop_pidfile "$STATE/dev-server.pid"
fi

summary="make bench: ${SECONDS} s in all, ${build_seconds} s of it building (${functions_seconds} s the functions, one by one)"
if runs model || runs webhooks; then
    _log "$summary" >&2 # stdout ends with the last part's `model:` or `webhooks:` line
else
    echo
    _log "$summary"
fi
if ((${#failed[@]})); then
    _err "failed: ${failed[*]} (see above: a correctness check, or the set-up)"
    exit 1
fi
