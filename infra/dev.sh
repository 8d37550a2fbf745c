#!/usr/bin/env bash
# `make dev`: the whole API on one port against local emulators.
#
#   DynamoDB Local on $DDB_PORT (8000), moto (SQS, SES, S3, Scheduler) on
#   $MOTO_PORT (5005), both bootstrapped from template.yaml; then
#   `cargo run -p dev-server` on $PORT (8080), which also runs the workers
#   (hold-expiry queue poll, sweep every $SWEEP_SECONDS). Ctrl-C stops all of it.
#   Variables already set in the environment win over the local defaults.
set -euo pipefail

# shellcheck source=infra/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_tools

DDB_PORT="${DDB_PORT:-8000}"
MOTO_PORT="${MOTO_PORT:-5005}"
PORT="${PORT:-8080}"
require_free_port 127.0.0.1 "$PORT" "dev server" PORT

trap 'stop_emulators dev' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_emulators dev "$DDB_PORT" "$MOTO_PORT"

emulator_env "$DDB_PORT" "$MOTO_PORT"
load_bootstrap_env dev # TABLE_NAME, queue URLs, bucket names, schedule group, MAIL_FROM

export APP_ENV="${APP_ENV:-local}"
export JWT_SECRET="${JWT_SECRET:-local-development-only-jwt-secret-do-not-deploy}"
export FRONTEND_URL="${FRONTEND_URL:-http://localhost:3000}"
export MAIL_FROM="${MAIL_FROM:-no-reply@tickets.local}"
export BOOTSTRAP_DEVELOPER_EMAIL="${BOOTSTRAP_DEVELOPER_EMAIL:-}"
export RUST_LOG="${RUST_LOG:-info}"
export SWEEP_SECONDS="${SWEEP_SECONDS:-60}"
# Webhook retries a few seconds apart locally (production: over a day).
export WEBHOOK_RETRY_SECONDS="${WEBHOOK_RETRY_SECONDS:-5,30,120}"
# Every local client is 127.0.0.1, so per-address limits would count a whole
# team, and every load test, as one buyer: raised here unless set. The
# per-user limits keep API.md's defaults.
export RATE_LIMIT_API_PER_IP="${RATE_LIMIT_API_PER_IP:-1000000}"
export RATE_LIMIT_HOLDS_PER_IP="${RATE_LIMIT_HOLDS_PER_IP:-1000000}"
export PORT
# The fake Stripe answers on the dev server's own port (infra/fake-stripe).
export STRIPE_API_BASE="${STRIPE_API_BASE:-http://127.0.0.1:$PORT/}"

cat <<INFO

Local stack is up (state and logs in .cache/run/dev/):
  API             http://127.0.0.1:$PORT            (once the server below is running)
  DynamoDB Local  $AWS_ENDPOINT_URL_DYNAMODB            table $TABLE_NAME
  moto            $AWS_ENDPOINT_URL            SQS, SES, S3, Scheduler
  sent mail       curl -s $AWS_ENDPOINT_URL/moto-api/data.json | python3 -m json.tool
                  (the .ses.Message[] list; sender $MAIL_FROM)
  rate limits     per address: $RATE_LIMIT_API_PER_IP requests and $RATE_LIMIT_HOLDS_PER_IP holds a minute (all clients are 127.0.0.1);
                  per user: API.md's defaults unless RATE_LIMIT_HOLDS_PER_USER / RATE_LIMIT_PAYMENTS_PER_USER are set
  developer       ${BOOTSTRAP_DEVELOPER_EMAIL:-none; set BOOTSTRAP_DEVELOPER_EMAIL=you@example.com to get the developer role}
  fake Stripe     $STRIPE_API_BASE (PaymentIntents, Refunds); after a checkout, pay with
                  curl -XPOST http://127.0.0.1:$PORT/dev/stripe/payment_intents/<id>/succeed
                  (it sends the signed webhook to /v1/webhooks/stripe)
  workers         hold-expiry: polls $HOLD_EXPIRY_QUEUE_URL
                  webhook-deliverer: polls $WEBHOOK_QUEUE_URL, retries after $WEBHOOK_RETRY_SECONDS s (WEBHOOK_RETRY_SECONDS)
                  sweep (lapsed holds, overdue scheduled events): every $SWEEP_SECONDS s (SWEEP_SECONDS)
                  publish schedules go to moto's Scheduler (group $PUBLISH_SCHEDULE_GROUP), which never
                  fires them: the sweep publishes scheduled events locally

Building and starting the dev server (cargo run -p dev-server). The first
build compiles the AWS SDKs: a few minutes on two cores; later runs take seconds.
Ctrl-C stops the server and the emulators.

INFO

# In the background and waited for, so a TERM (not only a terminal's Ctrl-C,
# which reaches the whole process group) also stops the server: bash runs
# traps only between commands, and `wait` is one it can interrupt.
cargo run -p dev-server &
server=$!
trap 'kill "$server" 2>/dev/null; exit 130' INT
trap 'kill "$server" 2>/dev/null; exit 143' TERM
wait "$server"
