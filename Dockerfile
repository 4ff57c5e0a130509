# pulse-sensor container image.
#
#   docker build -t pulse-sensor .
#   docker run --rm -e KVM_HOST=qemu+ssh://root@kvm1/system -e KAFKA_BOOTSTRAP=kafka:9092 \
#       -e SSH_KEY_FILE=/run/secrets/kvm_key -v /srv/pulse/kvm_key:/run/secrets/kvm_key:ro \
#       pulse-sensor
#
# The sensor runs as the unprivileged user `pulse` (uid and gid 10001): a remote hypervisor
# (qemu+ssh, qemu+tcp) needs no privilege here, only keys that uid can read. As in the
# official images (postgres, redis), the container starts as root so that the entrypoint can
# copy keys pulse cannot read (the old sensor's `-v /root/.ssh:/root/.ssh`, root's 0600 keys)
# and then drops to pulse (setpriv, from util-linux, which the base image has); `--user pulse`
# starts it as pulse directly. A local qemu:///system socket is root's or its group's: add the
# socket's group (--group-add), or set PULSE_RUN_AS_ROOT=true. HEALTHCHECK asks the sensor's
# /healthz when METRICS_ADDR is set and passes otherwise; it is pulse-sensor itself
# (--healthcheck), so no HTTP client is needed.
#
# Two stages: the first builds the sensor from the Debian 12 packages listed in
# CONTRIBUTING.md, the second carries only the binary, its runtime libraries and an ssh client
# (libvirt's qemu+ssh:// transport runs `ssh`). BASE is an argument so that an offline builder
# can use a locally made Debian 12 image (tests/integration/container.sh passes
# --build-arg BASE=localhost/bookworm-base); both stages must use the same release, or
# the runtime library versions would not match the build.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake ninja-build g++ pkg-config \
        libvirt-dev librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev \
        libcli11-dev libxml2-dev zlib1g-dev libtomlplusplus-dev libcpp-httplib-dev libssl-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPULSE_BUILD_TESTS=OFF \
 && cmake --build /build \
 && DESTDIR=/staging cmake --install /build --prefix /usr/local

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libvirt0 librdkafka++1 libspdlog1.10 libfmt9 libxml2 zlib1g libtomlplusplus3 libcpp-httplib0.11 \
        libssl3 openssh-client ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# The spool and the entrypoint's private ssh directory belong to pulse; a named volume mounted
# on /var/lib/pulse-sensor starts with that owner too. /run/pulse-sensor is searchable by all:
# libvirt starts ssh without capabilities, so even root must not need them to reach the private
# directory (mode 0700, of the running user) that the entrypoint makes inside.
# The group first: `useradd --system --user-group` would give it a gid from the system range
# (999), not the 10001 the `install -g 10001` lines of docs/operations.md use.
RUN groupadd --system --gid 10001 pulse \
 && useradd --system --uid 10001 --gid pulse --home-dir /home/pulse --create-home \
        --shell /usr/sbin/nologin pulse \
 && install -d -o pulse -g pulse -m 0750 /var/lib/pulse-sensor /var/lib/pulse-sensor/spool \
 && install -d -o pulse -g pulse -m 0755 /run/pulse-sensor
# The old images' defaults (bwsw/cs-pulse-sensor-kafka: PAUSE=20, GATHER_HOST_STATS=true), so
# that a container started with their `docker run` line, which may leave them out, still sends
# the host's nodeInfo at the same rate; -e overrides them, and the binary keeps its own
# defaults (10, false) outside the image. Their DEBUG=true is not copied: it prints every
# message to the container log.
ENV PAUSE=20 GATHER_HOST_STATS=true
COPY --from=build /staging/usr/local/bin/pulse-sensor /usr/local/bin/pulse-sensor
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# Fail the build, not the first start, when a runtime library is missing from the list above
# or the base image lacks setpriv.
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
 && ! ldd /usr/local/bin/pulse-sensor | grep 'not found' \
 && command -v setpriv >/dev/null
# The interval leaves the sensor alone between checks; the timeout covers the check's own 5 s
# connection and read timeouts.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/pulse-sensor", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
