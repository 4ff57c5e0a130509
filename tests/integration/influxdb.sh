#!/usr/bin/env bash
# influxdb.sh — a throwaway InfluxDB 1.x (Debian's influxdb package) on 127.0.0.1 for the
# importer's integration test.
#
#   influxdb.sh install   apt-install influxdb and influxdb-client when missing
#   influxdb.sh up        start influxd with every listener on a free loopback port (HTTP and the
#                         RPC bind-address, 8086 and 8088 by default, which may be taken), data
#                         under $PULSE_IT_STATE/influxdb, and write $PULSE_IT_STATE/influxdb.env
#                         (INFLUXDB_URL=..., INFLUXDB_PID=...) once /ping answers 204
#   influxdb.sh down      stop it and delete its data (safe to run twice)
#
# Environment: PULSE_IT_STATE  runtime state, logs and *.env files (default /tmp/pulse-it)
set -euo pipefail

STATE=${PULSE_IT_STATE:-/tmp/pulse-it}
RUN_DIR="$STATE/influxdb"
ENV_FILE="$STATE/influxdb.env"
START_TIMEOUT_S=60
STOP_TIMEOUT_S=20

log() { printf 'influxdb.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ping_status() {
    /usr/bin/python3 - "$1" <<'PY'
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1] + "/ping", timeout=2).status)
except Exception:
    print(0)
PY
}

install() {
    local missing=()
    command -v influxd >/dev/null || missing+=(influxdb)
    command -v influx >/dev/null || missing+=(influxdb-client)
    if ((${#missing[@]} == 0)); then
        log "packages already present"
        return
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # The package starts a system-wide influxd on 8086/8088; this script runs its own.
    systemctl disable --now influxdb >/dev/null 2>&1 || true
}

up() {
    if [ -f "$ENV_FILE" ]; then
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        if kill -0 "$INFLUXDB_PID" 2>/dev/null && [ "$(ping_status "$INFLUXDB_URL")" = 204 ]; then
            log "already up at $INFLUXDB_URL"
            return
        fi
        down
    fi
    command -v influxd >/dev/null || die "influxd not found (influxdb.sh install)"
    mkdir -p "$RUN_DIR"/{meta,data,wal}
    local http rpc
    http=$(free_port)
    rpc=$(free_port)
    cat >"$RUN_DIR/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$RUN_DIR/meta"
[data]
  dir = "$RUN_DIR/data"
  wal-dir = "$RUN_DIR/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
    setsid influxd run -config "$RUN_DIR/influxdb.conf" >"$RUN_DIR/influxd.log" 2>&1 </dev/null &
    local pid=$! url="http://127.0.0.1:$http" waited=0
    until [ "$(ping_status "$url")" = 204 ]; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$RUN_DIR/influxd.log" >&2; die "influxd exited"; }
        ((waited++ < START_TIMEOUT_S * 2)) || { kill "$pid"; die "influxd did not answer /ping"; }
        sleep 0.5
    done
    printf 'INFLUXDB_URL=%s\nINFLUXDB_PID=%s\n' "$url" "$pid" >"$ENV_FILE"
    log "up at $url (pid $pid, RPC 127.0.0.1:$rpc)"
}

down() {
    if [ -f "$ENV_FILE" ]; then
        local pid
        pid=$(sed -n 's/^INFLUXDB_PID=//p' "$ENV_FILE")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for ((i = 0; i < STOP_TIMEOUT_S * 2; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.5
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
        rm -f "$ENV_FILE"
    fi
    rm -rf "$RUN_DIR"
}

case "${1:-}" in
    install) install ;;
    up) up ;;
    down) down ;;
    *) die "usage: influxdb.sh install|up|down" ;;
esac
