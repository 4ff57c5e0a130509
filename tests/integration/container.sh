#!/usr/bin/env bash
# container.sh — build and start the project's Docker image without a Docker engine.
#
#   container.sh install         apt-install buildah and debootstrap if missing
#   container.sh base            make localhost/bookworm-base once (debootstrap minbase)
#   container.sh build           buildah bud the Dockerfile -> localhost/pulse-sensor:test
#   container.sh run [BUILDAH-RUN-OPTIONS...] -- [SENSOR-ARGS...]
#                                start the image's entrypoint once in a fresh container,
#                                e.g. run --env KVM_HOST=test:///default -- --once
#   container.sh exec [BUILDAH-RUN-OPTIONS...] -- CMD [ARGS...]
#                                run CMD instead of the entrypoint in a fresh container, as
#                                `docker run --entrypoint` would (e.g. the HEALTHCHECK command)
#   container.sh size            print the image size (as buildah reports it)
#   container.sh clean [--images]  remove the image's working containers (and the images)
#
# Why not `docker build`: there is no Docker engine here, only buildah, and no registry
# other than Debian's mirror, so debian:bookworm-slim cannot be pulled. The base image is
# made locally with debootstrap (about 35 s the first time; the rootfs tarball is cached in
# $PULSE_IT_CACHE so later machines only unpack it) and passed to the Dockerfile as
# --build-arg BASE=localhost/bookworm-base. The same Dockerfile builds with Docker from
# the real debian:bookworm-slim.
#
# buildah runs with the vfs storage driver (no overlay in this sandbox) and chroot
# isolation (no user namespaces), so a container shares the host's network namespace:
# 127.0.0.1 inside is the host's loopback, where the test broker and sshd listen.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${PULSE_IT_CACHE:-/var/cache/pulse-it}
STATE=${PULSE_IT_STATE:-/tmp/pulse-it}
BASE_IMAGE=localhost/bookworm-base
IMAGE=${PULSE_IMAGE:-localhost/pulse-sensor:test}
ROOTFS_TAR="$CACHE/bookworm-minbase.tar.gz"
RUN_TIMEOUT_S=${PULSE_IT_RUN_TIMEOUT:-120}

export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
BUILDAH=(buildah --storage-driver vfs)

log() { printf 'container.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cmd_install() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if ((${#missing[@]} == 0)); then log "packages already present"; return; fi
    log "apt-get install ${missing[*]}"
    timeout 300 apt-get update -q
    DEBIAN_FRONTEND=noninteractive timeout 900 \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

image_exists() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# debootstrap a minimal bookworm into a tarball in the cache (once per cache).
make_rootfs_tar() {
    local rootfs t0=$SECONDS
    rootfs=$(mktemp -d /tmp/bookworm-rootfs.XXXXXX)
    log "debootstrap --variant=minbase bookworm (first time only)"
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$STATE/debootstrap.log" 2>&1 \
        || { tail -n 20 "$STATE/debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed"; }
    # The same apt sources as the official debian:bookworm-slim image (with security updates).
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    log "debootstrap took $((SECONDS - t0)) s"
    mkdir -p "$CACHE"
    timeout 300 tar -C "$rootfs" --numeric-owner -czf "$ROOTFS_TAR.tmp" .
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$rootfs"
}

# Make the debootstrap tree behave like the official debian:bookworm-slim: no docs, man
# pages or translations (also for packages installed later), and apt keeps no .deb files
# or package caches in image layers.
slim_rootfs() {
    local r=$1
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/groff/* \
        "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
}

cmd_base() {
    if image_exists "$BASE_IMAGE"; then log "$BASE_IMAGE already exists"; return; fi
    mkdir -p "$STATE"
    [[ -f "$ROOTFS_TAR" ]] || make_rootfs_tar
    local t0=$SECONDS rootfs c
    rootfs=$(mktemp -d /tmp/bookworm-rootfs.XXXXXX)
    timeout 300 tar -C "$rootfs" --numeric-owner -xzf "$ROOTFS_TAR"
    slim_rootfs "$rootfs"
    # buildah has no `import`: copy the tree into an empty container and commit it.
    c=$("${BUILDAH[@]}" from scratch)
    timeout 600 "${BUILDAH[@]}" copy "$c" "$rootfs" / >/dev/null
    "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$c"
    timeout 600 "${BUILDAH[@]}" commit --quiet --rm "$c" "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "$BASE_IMAGE committed in $((SECONDS - t0)) s"
}

cmd_build() {
    image_exists "$BASE_IMAGE" || cmd_base
    local t0=$SECONDS old_id
    old_id=$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$IMAGE" 2>/dev/null || true)
    mkdir -p "$STATE"
    log "buildah bud -> $IMAGE (log: $STATE/image-build.log)"
    # --layers=false: with vfs every cached layer is a full copy of the tree (~0.5 GB for
    # the builder stage); rebuilding the apt steps costs about 30 s instead.
    # --format docker: the OCI image format has no HEALTHCHECK, and buildah would drop it.
    timeout 1800 "${BUILDAH[@]}" bud --isolation chroot --layers=false --format docker \
        --build-arg BASE="$BASE_IMAGE" -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" \
        >"$STATE/image-build.log" 2>&1 \
        || { tail -n 40 "$STATE/image-build.log" >&2; die "image build failed"; }
    # The previous build is now untagged; with vfs it would keep its full size on disk.
    if [[ -n "$old_id" ]]; then "${BUILDAH[@]}" rmi "$old_id" >/dev/null 2>&1 || true; fi
    log "built $IMAGE in $((SECONDS - t0)) s, size $(cmd_size)"
}

cmd_size() { "${BUILDAH[@]}" images --noheading --format '{{.Size}}' "$IMAGE"; }

# A fresh working container per run, removed afterwards, so runs never share state.
cmd_run() {
    local opts=()
    while (($#)) && [[ "$1" != "--" ]]; do opts+=("$1"); shift; done
    (($#)) && shift
    # `buildah run` does not apply ENTRYPOINT, so name it, as `docker run` would.
    run_in_fresh_container "${opts[@]}" -- /usr/local/bin/docker-entrypoint.sh "$@"
}

cmd_exec() {
    local opts=()
    while (($#)) && [[ "$1" != "--" ]]; do opts+=("$1"); shift; done
    (($#)) && shift
    (($#)) || die "exec: no command after --"
    run_in_fresh_container "${opts[@]}" -- "$@"
}

run_in_fresh_container() {
    local opts=()
    while (($#)) && [[ "$1" != "--" ]]; do opts+=("$1"); shift; done
    (($#)) && shift
    image_exists "$IMAGE" || die "no image $IMAGE: run '$0 build' first"
    local c rc=0
    c=$("${BUILDAH[@]}" from --quiet --pull-never "$IMAGE")
    # shellcheck disable=SC2064
    trap "'${BUILDAH[0]}' --storage-driver vfs rm '$c' >/dev/null 2>&1 || true" EXIT
    timeout --kill-after=10 "$RUN_TIMEOUT_S" \
        "${BUILDAH[@]}" run --isolation chroot "${opts[@]}" "$c" -- "$@" || rc=$?
    return "$rc"
}

# Only this image's containers: others may be building or running other images here.
cmd_clean() {
    local ids
    mapfile -t ids < <("${BUILDAH[@]}" containers --quiet --filter "ancestor=$IMAGE" 2>/dev/null)
    if ((${#ids[@]})); then "${BUILDAH[@]}" rm "${ids[@]}" >/dev/null 2>&1 || true; fi
    if [[ "${1:-}" == "--images" ]]; then
        "${BUILDAH[@]}" rmi -f "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1 || true
    fi
    log "removed working containers${1:+ and images}"
}

case "${1:-}" in
    install) cmd_install ;;
    base) cmd_base ;;
    build) cmd_build ;;
    run) shift; cmd_run "$@" ;;
    exec) shift; cmd_exec "$@" ;;
    size) cmd_size ;;
    clean) shift; cmd_clean "$@" ;;
    *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
