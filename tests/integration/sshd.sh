#!/usr/bin/env bash
# sshd.sh - a private sshd on 127.0.0.1 so the tests can reach the lab's
# libvirtd through qemu+ssh://, the transport production uses.
#
#   sshd.sh up     start sshd on a free loopback port, write ssh.env
#   sshd.sh down   stop that sshd and remove its keys and config
#
# Everything lives in ${PULSE_IT_STATE:-/tmp/pulse-it}/ssh: its own host key,
# a client key pair authorized for root (only through this sshd's own
# AuthorizedKeysFile), sshd_config, pid and log.  `down` removes the
# known_hosts entry that libvirt's ssh (no_verify=1) adds for this port.
# ssh.env gets SSH_URI, SSH_PORT and SSH_KEY.  On the remote side libvirt runs
# virt-ssh-helper (package libvirt-daemon) or falls back to `nc -U`
# (netcat-openbsd); libvirt-lab.sh install brings both.
set -euo pipefail

STATE="${PULSE_IT_STATE:-/tmp/pulse-it}"
DIR="$STATE/ssh"
ENV="$STATE/ssh.env"

log() { echo "sshd.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
sshd_pid() { [[ -r "$DIR/sshd.pid" ]] && tr -dc '0-9' <"$DIR/sshd.pid" || true; }

free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ssh_ok() {
    timeout 15 ssh -p "$1" -i "$DIR/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        root@127.0.0.1 true
}

cmd_up() {
    [[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd missing; run libvirt-lab.sh install"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if pid_alive "$(sshd_pid)"; then
        if [[ -f "$ENV" ]]; then
            # shellcheck disable=SC1090
            . "$ENV"
            if ssh_ok "$SSH_PORT"; then
                log "already running on port $SSH_PORT"
                return 0
            fi
        fi
        kill "$(sshd_pid)" 2>/dev/null || true   # ours, but not usable: start afresh
    fi
    [[ -f "$DIR/host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C pulse-it-host -f "$DIR/host_ed25519"
    [[ -f "$DIR/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C pulse-it-client -f "$DIR/id_ed25519"
    cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
    chmod 600 "$DIR/authorized_keys"
    mkdir -p /run/sshd    # sshd's privilege-separation directory

    local port
    port=$(free_port)
    # UsePAM no: no PAM session setup in this sandbox.  StrictModes no: the
    # state directory may sit under /tmp, whose sticky bit sshd dislikes.
    cat >"$DIR/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $DIR/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
LogLevel INFO
EOF
    /usr/sbin/sshd -t -f "$DIR/sshd_config" || die "bad sshd_config"
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"

    local deadline=$((SECONDS + 20))
    until ssh_ok "$port" 2>/dev/null; do
        ((SECONDS < deadline)) || die "sshd on 127.0.0.1:$port does not answer (see $DIR/sshd.log)"
        sleep 0.2
    done
    local uri="qemu+ssh://root@127.0.0.1:$port/system?keyfile=$DIR/id_ed25519&no_verify=1"
    timeout 60 virsh -c "$uri" list >/dev/null ||
        die "virsh -c '$uri' list failed"
    cat >"$ENV.tmp" <<EOF
# written by sshd.sh up
SSH_PORT=$port
SSH_KEY=$DIR/id_ed25519
SSH_URI='$uri'
EOF
    mv "$ENV.tmp" "$ENV"
    log "sshd on 127.0.0.1:$port; SSH_URI in $ENV"
}

cmd_down() {
    local pid i
    pid=$(sshd_pid)
    if pid_alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
        pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    # libvirt's ssh transport (no_verify=1) records the host key in root's
    # known_hosts: drop exactly that entry
    if [[ -f "$ENV" && -f ~/.ssh/known_hosts ]]; then
        local port
        port=$(sed -n 's/^SSH_PORT=//p' "$ENV")
        [[ -n "$port" ]] && ssh-keygen -q -R "[127.0.0.1]:$port" >/dev/null 2>&1 || true
        rm -f ~/.ssh/known_hosts.old
    fi
    rm -rf -- "$DIR" "$ENV"
    log "down"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    *) echo "usage: $0 {up|down}" >&2; exit 2 ;;
esac
