# pulse-sensor container image.
#
#   docker build -t pulse-sensor .
#   docker run --rm -e KVM_HOST=qemu+ssh://root@kvm1/system -e KAFKA_BOOTSTRAP=kafka:9092 \
#       -v ~/.ssh:/root/.ssh:ro pulse-sensor
#
# Two stages: the first builds the sensor from the Debian 12 packages listed in the README,
# the second carries only the binary, its runtime libraries and an ssh client (libvirt's
# qemu+ssh:// transport runs `ssh`). BASE is an argument so that an offline builder can use
# a locally made Debian 12 image (tests/integration/container.sh passes
# --build-arg BASE=localhost/bookworm-base); both stages must use the same release, or
# the runtime library versions would not match the build.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake ninja-build g++ pkg-config \
        libvirt-dev librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev \
        libcli11-dev libxml2-dev zlib1g-dev libcpp-httplib-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPULSE_BUILD_TESTS=OFF \
 && cmake --build /build \
 && DESTDIR=/staging cmake --install /build --prefix /usr/local

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libvirt0 librdkafka++1 libspdlog1.10 libfmt9 libxml2 zlib1g libcpp-httplib0.11 \
        openssh-client ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /staging/usr/local/bin/pulse-sensor /usr/local/bin/pulse-sensor
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# Fail the build, not the first start, when a runtime library is missing from the list above.
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
 && ! ldd /usr/local/bin/pulse-sensor | grep 'not found'
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
