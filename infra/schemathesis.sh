#!/usr/bin/env bash
# Schemathesis against a running dev server, the last step of `make test`:
# it fuzzes every operation of the served /v1/openapi.json, signed in as a
# developer (the highest role), and fails on any 5xx answer and on any answer
# whose body or content type differs from what the document declares.
#
# Expects the emulator environment infra/test.sh sets up (AWS_* variables and
# the bootstrap env). Bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation
# and phase (default 50) and SCHEMATHESIS_SECONDS of wall clock (default 600:
# on a machine shared with a release build, every phase passed and the run
# still missed 300 s).
set -euo pipefail

# shellcheck source=infra/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
seconds="${SCHEMATHESIS_SECONDS:-600}"
state="$RUN_DIR/test"
mkdir -p "$state"

_log "cargo build -p dev-server"
cargo build -q -p dev-server
server_bin="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/dev-server"

read -r port < <(free_ports 1)
developer="developer-$(date +%s)-$$@schemathesis.test"
pidfile="$state/schemathesis-server.pid"
log="$state/schemathesis-server.log"
trap '_stop_pidfile "$pidfile"' EXIT
(
    export PORT="$port" BOOTSTRAP_DEVELOPER_EMAIL="$developer" RUST_LOG=warn SWEEP_SECONDS=3600
    export STRIPE_API_BASE="http://127.0.0.1:$port/" FRONTEND_URL="${FRONTEND_URL:-http://localhost:3000}"
    # One client fuzzing every route as fast as it can: the limits have
    # their own tests (tests/tests/api/rate_limits.rs).
    export RATE_LIMIT_API_PER_IP=1000000 RATE_LIMIT_HOLDS_PER_IP=1000000
    export RATE_LIMIT_HOLDS_PER_USER=1000000 RATE_LIMIT_PAYMENTS_PER_USER=1000000
    exec "$server_bin"
) </dev/null >"$log" 2>&1 &
_write_pidfile "$pidfile" "$!"
_wait_http "http://127.0.0.1:$port/v1/health/live" "$pidfile" "dev server" "$log" 60

# A developer's access token, signed in the way a person does (the magic
# link is read back from the emulator's SES), and something for the path
# ids to name (infra/schemathesis.toml): a published event, a hold on it and
# another user.
read -r token event_id booking_id user_id < <("$VENV/bin/python" - "http://127.0.0.1:$port" "$AWS_ENDPOINT_URL" "$developer" <<'PY'
import datetime, json, re, sys, urllib.request

api, moto, developer = sys.argv[1:]

def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)

def sign_in(email):
    call("POST", "/v1/auth/magic-link", {"email": email})
    with urllib.request.urlopen(moto + "/moto-api/data.json", timeout=10) as response:
        mails = json.load(response)["ses"]["Message"]
    body = next(m["body"] for m in reversed(mails) if email in m["destinations"]["ToAddresses"])
    link = re.search(r"/auth/verify\?token=([A-Za-z0-9_-]+)", body).group(1)
    return call("POST", "/v1/auth/magic-link/verify", {"token": link})

session = sign_in(developer)
token = session["access_token"]
other = sign_in(developer.replace("developer-", "buyer-"))["user"]["id"]
starts = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
event = call("POST", "/v1/events", {
    "title": "Schemathesis night", "venue": "Hall", "timezone": "Europe/Paris", "currency": "eur",
    "starts_at": starts.isoformat(), "ends_at": (starts + datetime.timedelta(hours=3)).isoformat(),
    "layout": {"mode": "open", "capacity": 1000, "price_cents": 2500},
}, token)["id"]
call("POST", f"/v1/events/{event}/publish", {}, token)
booking = call("POST", f"/v1/events/{event}/holds", {"quantity": 1}, token)["id"]
print(token, event, booking, other)
PY
)
export SCHEMATHESIS_EVENT_ID="$event_id" SCHEMATHESIS_BOOKING_ID="$booking_id" SCHEMATHESIS_USER_ID="$user_id"

_log "schemathesis: at most $max_examples cases per operation and phase, ${seconds}s (log: ${state#"$REPO_ROOT"/}/schemathesis.log)"
started=$SECONDS
status=0
timeout --kill-after=10 "$seconds" "$VENV/bin/st" --config-file "$INFRA_DIR/schemathesis.toml" run "http://127.0.0.1:$port/v1/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance \
    --header "Authorization: Bearer $token" \
    --max-examples "$max_examples" --seed 20261201 --workers 1 --request-timeout 10 \
    --generation-database none \
    --no-color >"$state/schemathesis.log" 2>&1 || status=$?
tail -n 40 "$state/schemathesis.log"
_log "schemathesis took $((SECONDS - started))s"
if ((status == 124)); then
    _err "schemathesis did not finish within ${seconds}s"
fi
exit "$status"
