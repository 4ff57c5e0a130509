#!/usr/bin/env bash
# kafka.sh — a throwaway single-node Kafka broker on 127.0.0.1 for the integration tests.
#
#   kafka.sh install             apt-install what is missing (Java 17, Maven, kcat, openssl,
#                                pytest, virsh) and fetch the Kafka jars into the cache
#   kafka.sh up [--sasl-ssl] [--no-auto-create]
#                                start a KRaft broker+controller on free loopback ports and
#                                write $PULSE_IT_STATE/kafka.env (KAFKA_BOOTSTRAP=..., KAFKA_PID=...)
#                                --sasl-ssl: clients get a SASL_SSL listener only (see below)
#                                --no-auto-create: auto.create.topics.enable=false
#   kafka.sh create-topic NAME [PARTITIONS]
#   kafka.sh add-partitions NAME PARTITIONS   grows a live topic
#   kafka.sh acls ARGS...        kafka-acls.sh ARGS on the secured broker (e.g. --add
#                                --deny-principal User:x --operation DescribeConfigs --cluster)
#   kafka.sh stop                SIGTERM the broker but keep its data, config and kafka.env
#                                (an outage for the fault tests; `start` brings it back)
#   kafka.sh start               start a stopped broker again on the same ports, same data, and
#                                wait until it answers (nothing to do when it is running)
#   kafka.sh down                stop the broker and delete its data (safe to run twice)
#
# The broker runs straight from Maven jars (kafka/pom.xml), not from a Kafka tarball,
# because Maven Central is reachable here and the Apache download site is not.
# First run cost: `install` downloads 63 jars (47 MiB) plus Maven's plugins into
# $PULSE_IT_CACHE/kafka/m2, about 5-20 s depending on the mirror; later runs copy them
# offline (mvn -o, about 2 s) or skip Maven entirely when libs/ matches pom.xml.
# `up` takes about 10 s (two JVM starts: storage format, then the broker).
#
# --sasl-ssl: KAFKA_BOOTSTRAP is a SASL_SSL listener with a broker certificate (IP:127.0.0.1)
# signed by a CA made with openssl for this run (PEM files, no keytool: Kafka reads PEM
# keystores since 2.7), mechanisms PLAIN (a user in the listener's JAAS config) and
# SCRAM-SHA-512 (a user written into the metadata by `storage format --add-scram`, Kafka >= 3.5),
# each with a random password. The broker talks to itself, and create-topic to it, over a
# PLAINTEXT listener on loopback (KAFKA_INTERNAL_BOOTSTRAP), so clients never see plaintext
# and the test tools need no credentials. The broker authorizes (StandardAuthorizer) but lets
# everyone do everything on a resource without ACLs, so ACLs are only there when a test adds
# them (`acls`); the internal and controller listeners' ANONYMOUS is a super user. kafka.env
# (mode 600) adds KAFKA_SECURITY_PROTOCOL,
# KAFKA_CA, KAFKA_PLAIN_USER/_PASSWORD, KAFKA_SCRAM_USER/_PASSWORD and KAFKA_CLIENT_PROPERTIES
# (a librdkafka properties file with the PLAIN user, for `kcat -F`).
#
# Environment:
#   PULSE_IT_CACHE  downloads that survive between runs   (default /var/cache/pulse-it)
#   PULSE_IT_STATE  runtime state, logs and *.env files    (default /tmp/pulse-it)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$HERE/kafka/pom.xml"
CACHE=${PULSE_IT_CACHE:-/var/cache/pulse-it}
STATE=${PULSE_IT_STATE:-/tmp/pulse-it}
LIBS="$CACHE/kafka/libs"
M2="$CACHE/kafka/m2"
RUN_DIR="$STATE/kafka"        # config, data and log of the running broker
ENV_FILE="$STATE/kafka.env"

START_TIMEOUT_S=60            # broker must answer kcat -L within this
STOP_TIMEOUT_S=20             # SIGTERM grace period before SIGKILL
JVM_HEAP=-Xmx512m             # the machine has 2 cores and is shared with QEMU guests

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- install
need_packages() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    command -v kcat >/dev/null || missing+=(kcat)
    command -v openssl >/dev/null || missing+=(openssl)   # the CA and certificate of --sasl-ssl
    command -v virsh >/dev/null || missing+=(libvirt-clients)
    /usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest)
    printf '%s\n' "${missing[@]}"
}

install_packages() {
    local missing
    mapfile -t missing < <(need_packages | sed '/^$/d')
    if ((${#missing[@]} == 0)); then
        log "packages already present"
        return
    fi
    log "apt-get install ${missing[*]}"
    timeout 300 apt-get update -q
    DEBIAN_FRONTEND=noninteractive timeout 900 \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }

fetch_jars() {
    local stamp="$LIBS/.pom.sha256"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$(pom_digest)" ]]; then
        log "jars already in $LIBS"
        return
    fi
    rm -rf "$LIBS"
    mkdir -p "$LIBS" "$M2"
    local mvn=(timeout 900 mvn -B -q -Dstyle.color=never -f "$POM" -Dmaven.repo.local="$M2"
               dependency:copy-dependencies -DoutputDirectory="$LIBS")
    local t0=$SECONDS
    # Offline first: after one successful run everything is in $M2.
    if ! "${mvn[@]}" -o >/dev/null 2>&1; then
        log "fetching Kafka jars from Maven Central into $M2"
        "${mvn[@]}"
    fi
    pom_digest >"$stamp"
    log "jars ready in $((SECONDS - t0)) s: $(find "$LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS" | cut -f1)"
}

# ---------------------------------------------------------------- up / down
kafka_java() { java -cp "$LIBS/*" "$@"; }

# Three distinct free TCP ports on 127.0.0.1 (the sockets are held until all are known).
free_ports() {
    /usr/bin/python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

broker_alive() {
    # The pid alone could have been reused: check that it is still our broker.
    [[ -n "${1:-}" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'kafka\.Kafka'
}

# broker_answers BOOTSTRAP [CLIENT_PROPERTIES]: the secured broker is asked through its
# SASL_SSL listener, so `up` returns only once TLS and SASL work.
broker_answers() {
    local auth=()
    [[ -n "${2:-}" ]] && auth=(-F "$2")
    timeout 10 kcat "${auth[@]}" -L -b "$1" -m 5 2>/dev/null | grep -q '1 brokers'
}

# JVM options of the broker (up and start).
BROKER_JVM=("$JVM_HEAP" -Djava.awt.headless=true -Dlog4j.configuration="file:$RUN_DIR/log4j.properties")

# stop_broker PID: SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT_S.
stop_broker() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while broker_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if broker_alive "$pid"; then
        log "broker $pid ignored SIGTERM for ${STOP_TIMEOUT_S} s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    log "stopped broker $pid"
}

env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }
set_env_pid() { sed -i "s/^KAFKA_PID=.*/KAFKA_PID=$1/" "$ENV_FILE"; }

# A CA and a broker certificate for 127.0.0.1, both for this run only, in $RUN_DIR/tls.
make_tls() {
    local dir="$RUN_DIR/tls"
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pulse-it test CA" \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout broker.key -out broker.csr
        # librdkafka checks the broker's name (ssl.endpoint.identification.algorithm=https)
        # and the bootstrap address is an IP, so the certificate names that IP.
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile broker.ext -out broker.pem
        # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the certificate chain.
        openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker-pkcs8.key
        cat broker-pkcs8.key broker.pem ca.pem >broker-keystore.pem
        chmod 600 ./*.key broker-keystore.pem
    ) >"$RUN_DIR/tls.log" 2>&1 || { cat "$RUN_DIR/tls.log" >&2; die "openssl failed"; }
}

# Random per run; hex, so that JAAS, properties files and kafka.env need no quoting.
new_password() { openssl rand -hex 16; }

PLAIN_USER=pulse-plain
SCRAM_USER=pulse-scram

# private_write FILE COMMAND...: COMMAND's output into FILE, mode 600 from the start (the
# redirection sits inside the subshell, after umask).
private_write() {
    local file=$1
    shift
    (umask 077 && "$@" >"$file")
}

# server_properties PORT CONTROLLER_PORT INTERNAL_PORT SECURITY_PROTOCOL AUTO_CREATE
# With SASL_SSL, PLAIN_PASSWORD must be set: it goes into the listener's JAAS config.
server_properties() {
    local port=$1 cport=$2 iport=$3 protocol=$4 auto_create=$5
    if [[ "$protocol" == SASL_SSL ]]; then
        cat <<EOF
listeners=SASL_SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$iport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port,INTERNAL://127.0.0.1:$iport
listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$RUN_DIR/tls/broker-keystore.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER="$PLAIN_PASSWORD";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS
EOF
    else
        cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    fi
    cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
auto.create.topics.enable=$auto_create
log.dirs=$RUN_DIR/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

# write_config PORT CONTROLLER_PORT INTERNAL_PORT SECURITY_PROTOCOL AUTO_CREATE
write_config() {
    mkdir -p "$RUN_DIR/data"
    private_write "$RUN_DIR/server.properties" server_properties "$@"
    # Without a log4j configuration reload4j prints only a warning and the broker is silent.
    cat >"$RUN_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    # The CLI tools log only warnings, to stderr.
    cat >"$RUN_DIR/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# env_lines PORT CONTROLLER_PORT INTERNAL_PORT SECURITY_PROTOCOL AUTO_CREATE PID
env_lines() {
    local port=$1 cport=$2 iport=$3 protocol=$4 auto_create=$5 pid=$6
    printf 'KAFKA_BOOTSTRAP=127.0.0.1:%s\nKAFKA_PID=%s\nKAFKA_CONTROLLER_PORT=%s\nKAFKA_DIR=%s\n' \
        "$port" "$pid" "$cport" "$RUN_DIR"
    printf 'KAFKA_SECURITY_PROTOCOL=%s\nKAFKA_AUTO_CREATE=%s\n' "$protocol" "$auto_create"
    if [[ "$protocol" == SASL_SSL ]]; then
        printf 'KAFKA_INTERNAL_BOOTSTRAP=127.0.0.1:%s\nKAFKA_CA=%s\n' "$iport" "$RUN_DIR/tls/ca.pem"
        printf 'KAFKA_PLAIN_USER=%s\nKAFKA_PLAIN_PASSWORD=%s\n' "$PLAIN_USER" "$PLAIN_PASSWORD"
        printf 'KAFKA_SCRAM_USER=%s\nKAFKA_SCRAM_PASSWORD=%s\n' "$SCRAM_USER" "$SCRAM_PASSWORD"
        printf 'KAFKA_CLIENT_PROPERTIES=%s\n' "$RUN_DIR/client.properties"
    fi
}

# librdkafka properties for the PLAIN user, as kcat -F reads them.
client_properties() {
    cat <<EOF
security.protocol=SASL_SSL
ssl.ca.location=$RUN_DIR/tls/ca.pem
sasl.mechanism=PLAIN
sasl.username=$PLAIN_USER
sasl.password=$PLAIN_PASSWORD
EOF
}

cmd_up() {
    local protocol=PLAINTEXT auto_create=true
    while (($#)); do
        case "$1" in
            --sasl-ssl) protocol=SASL_SSL ;;
            --no-auto-create) auto_create=false ;;
            *) die "up: unknown option '$1' (--sasl-ssl, --no-auto-create)" ;;
        esac
        shift
    done
    if [[ -f "$ENV_FILE" ]]; then
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        if [[ "${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}" == "$protocol" &&
              "${KAFKA_AUTO_CREATE:-true}" == "$auto_create" ]] &&
            broker_alive "${KAFKA_PID:-}" &&
            broker_answers "$KAFKA_BOOTSTRAP" "${KAFKA_CLIENT_PROPERTIES:-}"; then
            log "already up at $KAFKA_BOOTSTRAP (pid $KAFKA_PID)"
            return
        fi
        cmd_down   # not up, or up with other settings
    fi
    [[ -f "$LIBS/.pom.sha256" ]] || die "no Kafka jars in $LIBS: run '$0 install' first"

    local t0=$SECONDS port cport iport cluster_id pid client_properties=""
    local format_extra=()
    read -r port cport iport < <(free_ports)
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR"
    if [[ "$protocol" == SASL_SSL ]]; then
        PLAIN_PASSWORD=$(new_password)
        SCRAM_PASSWORD=$(new_password)
        make_tls
        client_properties="$RUN_DIR/client.properties"
        private_write "$client_properties" client_properties
        # SCRAM credentials live in the cluster metadata; with KRaft they can be written
        # before the first start, so the user exists when the broker answers.
        format_extra=(--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]")
    fi
    write_config "$port" "$cport" "$iport" "$protocol" "$auto_create"
    local jvm=("${BROKER_JVM[@]}")

    cluster_id=$(timeout 60 java "${jvm[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)
    timeout 60 java "${jvm[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$RUN_DIR/server.properties" "${format_extra[@]}" \
        >"$RUN_DIR/format.log" 2>&1 \
        || { cat "$RUN_DIR/format.log" >&2; die "storage format failed"; }

    # setsid: the broker gets its own session, so a test runner's Ctrl-C does not kill
    # it half-way and `down` can still find and stop it.
    setsid java "${jvm[@]}" -cp "$LIBS/*" kafka.Kafka "$RUN_DIR/server.properties" \
        </dev/null >"$RUN_DIR/server.log" 2>&1 &
    pid=$!
    private_write "$ENV_FILE" env_lines "$port" "$cport" "$iport" "$protocol" "$auto_create" "$pid"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    until broker_answers "127.0.0.1:$port" "$client_properties"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$RUN_DIR/server.log" >&2
            rm -f "$ENV_FILE"
            die "broker exited during start-up (log: $RUN_DIR/server.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$RUN_DIR/server.log" >&2
            cmd_down
            die "broker did not answer within ${START_TIMEOUT_S} s"
        fi
        sleep 0.5
    done
    log "up at 127.0.0.1:$port ($protocol, pid $pid) in $((SECONDS - t0)) s; env in $ENV_FILE"
}

cmd_down() {
    local pid=""
    if [[ -f "$ENV_FILE" ]]; then
        pid=$(sed -n 's/^KAFKA_PID=//p' "$ENV_FILE")
    fi
    if broker_alive "$pid"; then
        stop_broker "$pid"
    fi
    rm -rf "$RUN_DIR" "$ENV_FILE"
}

# An outage: the broker goes away (SIGTERM, a clean shutdown) but its data, config, ports and
# kafka.env stay, so `start` brings the same broker back with every topic and offset.
cmd_stop() {
    [[ -f "$ENV_FILE" && -f "$RUN_DIR/server.properties" ]] ||
        die "no broker to stop (no $ENV_FILE or $RUN_DIR/server.properties); use '$0 up'"
    local pid
    pid=$(env_value KAFKA_PID)
    if broker_alive "$pid"; then
        stop_broker "$pid"
    else
        log "broker already stopped"
    fi
    set_env_pid ""   # a stale pid could be reused by another process
}

cmd_start() {
    [[ -f "$ENV_FILE" && -f "$RUN_DIR/server.properties" ]] ||
        die "no stopped broker (no $ENV_FILE or $RUN_DIR/server.properties); use '$0 up'"
    [[ -f "$LIBS/.pom.sha256" ]] || die "no Kafka jars in $LIBS: run '$0 install' first"
    local t0=$SECONDS pid bootstrap client_properties
    pid=$(env_value KAFKA_PID)
    bootstrap=$(env_value KAFKA_BOOTSTRAP)
    client_properties=$(env_value KAFKA_CLIENT_PROPERTIES)
    if broker_alive "$pid"; then
        log "broker $pid is running; waiting until it answers"
    else
        setsid java "${BROKER_JVM[@]}" -cp "$LIBS/*" kafka.Kafka "$RUN_DIR/server.properties" \
            </dev/null >>"$RUN_DIR/server.log" 2>&1 &
        pid=$!
        set_env_pid "$pid"
    fi
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until broker_answers "$bootstrap" "$client_properties"; do
        if ! broker_alive "$pid"; then
            tail -n 30 "$RUN_DIR/server.log" >&2
            set_env_pid ""
            die "broker exited during restart (data kept in $RUN_DIR; log: $RUN_DIR/server.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$RUN_DIR/server.log" >&2
            stop_broker "$pid"
            set_env_pid ""
            die "restarted broker did not answer within ${START_TIMEOUT_S} s (data kept in $RUN_DIR)"
        fi
        sleep 0.5
    done
    log "up again at $bootstrap (pid $pid) in $((SECONDS - t0)) s"
}

# kafka-topics.sh, whose main class moved from kafka.admin to the kafka-tools module in 3.6.
# A secured broker is asked over its internal plaintext listener: no credentials needed.
topic_command() {
    [[ -f "$ENV_FILE" ]] || die "broker is not up (no $ENV_FILE)"
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    timeout 60 java "$JVM_HEAP" -Dlog4j.configuration="file:$RUN_DIR/tools-log4j.properties" \
        -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "${KAFKA_INTERNAL_BOOTSTRAP:-$KAFKA_BOOTSTRAP}" "$@" >&2
}

cmd_create_topic() {
    local name=${1:?usage: kafka.sh create-topic NAME [PARTITIONS]} partitions=${2:-1}
    topic_command --create --if-not-exists --topic "$name" --partitions "$partitions" \
        --replication-factor 1
}

# Partitions added to a live topic: what an operator does to a fleet's coordination topic.
cmd_add_partitions() {
    local name=${1:?usage: kafka.sh add-partitions NAME PARTITIONS} partitions=${2:?usage: kafka.sh add-partitions NAME PARTITIONS}
    topic_command --alter --topic "$name" --partitions "$partitions"
}

cmd_acls() {
    [[ -f "$ENV_FILE" ]] || die "broker is not up (no $ENV_FILE)"
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    [[ -n "${KAFKA_INTERNAL_BOOTSTRAP:-}" ]] || die "acls: only the secured broker (up --sasl-ssl) authorizes"
    timeout 60 java "$JVM_HEAP" -Dlog4j.configuration="file:$RUN_DIR/tools-log4j.properties" \
        -cp "$LIBS/*" kafka.admin.AclCommand --bootstrap-server "$KAFKA_INTERNAL_BOOTSTRAP" "$@" >&2
}

case "${1:-}" in
    install) install_packages; fetch_jars ;;
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    stop) cmd_stop ;;
    start) cmd_start ;;
    create-topic) shift; cmd_create_topic "$@" ;;
    add-partitions) shift; cmd_add_partitions "$@" ;;
    acls) shift; cmd_acls "$@" ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
