#!/usr/bin/env bash
# old-importer.sh — the Python environment of the old pipeline's consumer, for
# test_pipeline.py: a venv with kafka-python and influxdb-python (the libraries of
# bwsw/python-kafka-influxdb-importer) and deliberately no compression packages (lz4,
# python-snappy, zstandard), as a consumer installed with plain `pip install kafka-python
# influxdb` has.
#
#   old-importer.sh install   create $PULSE_IT_CACHE/old-importer-venv from PyPI unless it
#                             already holds exactly these requirements (then offline, ~0 s;
#                             the first time about 10 s); apt-installs python3-venv if missing
#   old-importer.sh python    print the venv's python path (fails when not installed)
#
# Environment: PULSE_IT_CACHE  downloads that survive between runs (default /var/cache/pulse-it)
set -euo pipefail

CACHE=${PULSE_IT_CACHE:-/var/cache/pulse-it}
VENV="$CACHE/old-importer-venv"
# The versions LAB-NOTES names; a change here rebuilds the venv on the next install.
REQUIREMENTS="kafka-python==3.0.12 influxdb==5.3.2"
STAMP="$VENV/.pulse-it-requirements"

log() { printf 'old-importer.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

installed() {
    [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$REQUIREMENTS" ] &&
        "$VENV/bin/python" -c 'import kafka, influxdb' 2>/dev/null
}

install() {
    if installed; then
        log "venv already present ($VENV)"
        return
    fi
    if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
        log "installing python3-venv"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-venv >/dev/null
    fi
    # The stamp is written last, so an install that stopped half-way is redone from scratch.
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    /usr/bin/python3 -m venv "$VENV"
    # shellcheck disable=SC2086  # REQUIREMENTS is a word list
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir $REQUIREMENTS
    # Only kafka-python's extras pull these in; a plain install must not have them, since the
    # point of the venv is a consumer that cannot decompress lz4, snappy or zstd.
    "$VENV/bin/python" - <<'PY'
import importlib.util, sys
found = [m for m in ("lz4", "lz4f", "lz4framed", "snappy", "zstandard", "cramjam")
         if importlib.util.find_spec(m)]
sys.exit(f"compression packages in the venv: {found}" if found else 0)
PY
    printf '%s\n' "$REQUIREMENTS" >"$STAMP"
    installed || die "venv at $VENV does not work after install"
    log "venv ready ($VENV: $REQUIREMENTS)"
}

case "${1:-}" in
    install) install ;;
    python) installed && echo "$VENV/bin/python" || die "not installed (old-importer.sh install)" ;;
    *) die "usage: old-importer.sh install|python" ;;
esac
