#!/usr/bin/env bash
# telegraf.sh — a Telegraf binary for the integration tests that read the topic the way
# docs/influxdb.md tells users to (test_telegraf.py), and for benchmarks against its libvirt
# input.
#
#   telegraf.sh install   build Telegraf $TELEGRAF_VERSION from its Go module into the cache,
#                         unless the cached binary is already that version built with $TAGS
#   telegraf.sh path      print the cached binary's path (exit 1 when it is not built)
#
# Telegraf is not in Debian 12, and its release tarballs come from a download site this lab
# cannot reach, while the Go module proxy can be: `go install` builds it from source. The
# build tags keep only the plugins the tests use (a full Telegraf takes far longer and
# ~250 MiB): inputs.libvirt (benchmarks), inputs.kafka_consumer, outputs.file, and the
# parsers the snippets in docs/influxdb.md name. outputs.file can only write with a serializer
# that was built in; serializers.influx comes with the custom build, json does not.
# First run cost: about 4 minutes on two cores, longer on shared ones. Go keeps its module
# downloads and compiled packages in its own caches (~/go/pkg/mod, ~/.cache/go-build), so a
# rebuild with other tags is offline and quick; later runs compare a stamp file and do nothing. Needs Go >= 1.24 (Debian 12's golang is 1.19):
# $GO, else /usr/local/go/bin/go, else `go` on PATH.
#
# Environment:
#   PULSE_IT_CACHE  downloads and builds that survive between runs (default /var/cache/pulse-it)
#   GO              the go command to use
set -euo pipefail

CACHE=${PULSE_IT_CACHE:-/var/cache/pulse-it}
TELEGRAF_VERSION=v1.37.2
TAGS="custom,inputs.libvirt,inputs.kafka_consumer,outputs.file,parsers.xpath,parsers.influx"
# What Telegraf's Makefile sets, so that `telegraf --version` names the version, not "unknown".
LDFLAGS="-X github.com/influxdata/telegraf/internal.Version=${TELEGRAF_VERSION#v}"
DIR="$CACHE/telegraf"
BIN="$DIR/bin/telegraf"
STAMP="$DIR/bin/telegraf.stamp"   # version, tags and flags of the binary beside it

log() { printf 'telegraf.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

find_go() {
    local go
    for go in "${GO:-}" /usr/local/go/bin/go "$(command -v go || true)"; do
        [ -n "$go" ] && [ -x "$go" ] || continue
        # go1.24.3 -> 1 24; Telegraf 1.37's go.mod asks for 1.24 or newer.
        local v major minor
        v=$("$go" env GOVERSION 2>/dev/null) || continue
        IFS=. read -r major minor _ <<<"${v#go}"
        if ((major > 1 || (major == 1 && minor >= 24))); then
            echo "$go"
            return
        fi
        log "$go is $v, too old for Telegraf $TELEGRAF_VERSION (needs go1.24 or newer)"
    done
    die "no Go >= 1.24 found (set GO=/path/to/go; Debian 12's golang is too old)"
}

install() {
    local want="$TELEGRAF_VERSION $TAGS $LDFLAGS"
    if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
        log "Telegraf $TELEGRAF_VERSION already built: $BIN"
        return
    fi
    local go
    go=$(find_go)
    mkdir -p "$DIR/bin"
    log "building Telegraf $TELEGRAF_VERSION with $("$go" env GOVERSION) (tags $TAGS); several minutes"
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$DIR/build.XXXXXX")
    # -p=1 and nice: the machine's cores are shared with the QEMU lab and other builds.
    if ! GOBIN="$tmp" GOFLAGS=-p=1 \
        nice -n 19 "$go" install -tags "$TAGS" \
        -ldflags "$LDFLAGS" \
        "github.com/influxdata/telegraf/cmd/telegraf@$TELEGRAF_VERSION"; then
        rm -rf "$tmp"
        die "go install of Telegraf $TELEGRAF_VERSION failed"
    fi
    mv "$tmp/telegraf" "$BIN"
    rm -rf "$tmp"
    echo "$want" >"$STAMP"
    log "built $BIN in $((SECONDS - start)) s: $("$BIN" --version)"
}

case "${1:-}" in
    install) install ;;
    path)
        [ -x "$BIN" ] || die "Telegraf is not built (telegraf.sh install)"
        echo "$BIN"
        ;;
    *) die "usage: telegraf.sh install|path" ;;
esac
