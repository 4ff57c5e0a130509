# Shared by the scripts: run as root (or through sudo), and install Debian packages only when
# some are missing, so a second run costs nothing and works offline.
# shellcheck shell=bash

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# apt_install PKG... : installs the packages that are not installed yet.
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

BUILD_PACKAGES=(
    ca-certificates g++ cmake ninja-build pkg-config python3
    libvirt-dev librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
    libxml2-dev zlib1g-dev libtomlplusplus-dev libcpp-httplib-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev clang-format
    systemd
)
# systemd: systemd-analyze, which tests/packaging/test_deb.sh runs on the unit (cpack's DEB
# generator itself needs only dpkg-deb, from the essential dpkg package).

# libFuzzer comes with clang's runtime; clang 16 is the oldest Debian 12 clang that compiles the
# sources (C++20 lambdas capturing structured bindings).
FUZZ_CXX=clang++-16
FUZZ_PACKAGES=(clang-16 libclang-rt-16-dev)
FUZZ_TARGETS=(fuzz_config fuzz_domain_xml fuzz_stats_params fuzz_spool)
