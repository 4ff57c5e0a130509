#!/bin/sh
# docker-entrypoint.sh — start pulse-sensor in its container.
#
# The sensor reads its own environment (KVM_HOST, PAUSE, KAFKA_BOOTSTRAP, KAFKA_TOPIC,
# GATHER_HOST_STATS, RATES, DEBUG) and flags, so this script passes them through; it only
# unsets the ones that are set but empty (`-e KAFKA_BOOTSTRAP=` in a compose file means
# "not set", i.e. print to stdout) and prepares ssh for qemu+ssh:// URIs. It then execs
# the sensor, which becomes PID 1 and handles SIGTERM itself.
#
# The image runs as the user `pulse` (uid 10001); `--user 0` runs it as root.
#
# ssh: users mount their keys at the running user's ~/.ssh (`-v ~/.ssh:/home/pulse/.ssh:ro`,
# or `/root/.ssh` with `--user 0`), or name one key with SSH_KEY_FILE. Used in place, such a
# directory often fails ssh's checks (a config file owned by the host user is refused,
# a key readable by others is ignored) and cannot take new known_hosts entries. So its
# regular files (and the key named by SSH_KEY_FILE, if set) are copied to a private
# directory of the running user with mode 0600, and an ssh_config there names those keys and
# that known_hosts, and includes the user's config. Keys must be readable by the running
# user: a /root/.ssh mounted into a container running as pulse is not, which is said once;
# any other file there it cannot read stops the container with status 2.
# libvirt runs `ssh` from PATH; the first one in PATH is then a symlink to this script,
# which, called as ssh, runs `/usr/bin/ssh -F ssh_config` (a symlink rather than a generated
# script because /run may be mounted noexec). A `keyfile=` URI parameter pointing into the
# mounted ~/.ssh is redirected to the private copy. BatchMode makes a missing key or an
# unknown host fail at once instead of waiting for a prompt; add `no_verify=1` to the URI to
# accept unknown hosts.
# Nothing here prints key material, the URI or any other configuration value.
set -eu

# The running user's home from the passwd database: HOME may be unset or wrong under
# `docker run --user`.
user_home=$(getent passwd "$(id -u)" | cut -d: -f6) || true
SSH_SOURCE_DIR=${SSH_SOURCE_DIR:-${user_home:-${HOME:-/root}}/.ssh}
SSH_PRIVATE_DIR=${SSH_PRIVATE_DIR:-/run/pulse-sensor/ssh}

# Called as $SSH_PRIVATE_DIR/bin/ssh. libvirt passes only PATH, HOME and a few other
# variables to ssh, so the private directory is found from $0, not from the environment.
run_as_ssh() {
    private_dir=${0%/bin/ssh}
    source_dir=$(cat "$private_dir/source-dir")
    prev=
    for arg do
        shift
        # keyfile=/root/.ssh/KEY in the URI arrives as `-i /root/.ssh/KEY`: use the copy.
        if [ "$prev" = -i ]; then
            case $arg in "$source_dir"/*) arg="$private_dir/${arg#"$source_dir"/}" ;; esac
        fi
        set -- "$@" "$arg"
        prev=$arg
    done
    exec /usr/bin/ssh -F "$private_dir/ssh_config" "$@"
}

is_private_key() { grep -q -- '-----BEGIN .*PRIVATE KEY-----' "$1" 2>/dev/null; }

write_ssh_config() {
    echo "# written by docker-entrypoint.sh from $SSH_SOURCE_DIR"
    echo "UserKnownHostsFile $SSH_PRIVATE_DIR/known_hosts"
    echo "BatchMode yes"
    for f in "$SSH_PRIVATE_DIR"/*; do
        case $f in */ssh_config | */config | */known_hosts* | */source-dir) continue ;; esac
        if [ -f "$f" ] && is_private_key "$f"; then
            echo "IdentityFile $f"
        fi
    done
    # The user's own config comes last, so the settings above apply to every host.
    if [ -f "$SSH_PRIVATE_DIR/config" ]; then
        echo "Include $SSH_PRIVATE_DIR/config"
    fi
}

# A /root/.ssh mount (the usual `-v /root/.ssh:/root/.ssh:ro`) while not root: unreadable
# from here, and /root cannot even be looked into, so the mount table tells.
warn_unreadable_root_ssh() {
    [ "$(id -u)" -ne 0 ] || return 0
    [ "$SSH_SOURCE_DIR" != /root/.ssh ] || return 0
    if grep -q ' /root/\.ssh ' /proc/self/mountinfo 2>/dev/null; then
        echo "docker-entrypoint.sh: /root/.ssh is mounted but this container runs as uid" \
            "$(id -u), which cannot read it: mount the keys at $SSH_SOURCE_DIR (readable by" \
            "uid $(id -u)), name one with SSH_KEY_FILE, or run with --user 0" >&2
    fi
}

die_setting() {
    echo "docker-entrypoint.sh: $*" >&2
    exit 2
}

# Only a file this process cannot read is the user's to fix (cp under set -e would exit 1
# with cp's own message): say which, for which uid.
copy_readable() {
    if [ ! -r "$1" ] || ! cp "$1" "$2"; then
        die_setting "$3 is not readable by uid $(id -u): make it readable by that uid," \
            "or run with --user 0"
    fi
}

prepare_ssh() {
    warn_unreadable_root_ssh
    have_dir=no
    if [ -d "$SSH_SOURCE_DIR" ]; then
        if [ ! -r "$SSH_SOURCE_DIR" ] || [ ! -x "$SSH_SOURCE_DIR" ]; then
            die_setting "$SSH_SOURCE_DIR is not readable by uid $(id -u): make it readable by" \
                "that uid, or run with --user 0"
        fi
        if [ -n "$(ls -A "$SSH_SOURCE_DIR" 2>/dev/null)" ]; then have_dir=yes; fi
    fi
    if [ "$have_dir" = no ] && [ -z "${SSH_KEY_FILE:-}" ]; then
        return 0
    fi

    umask 077
    if ! mkdir -p "$SSH_PRIVATE_DIR/bin" 2>/dev/null; then
        SSH_PRIVATE_DIR=$(mktemp -d)
        mkdir -p "$SSH_PRIVATE_DIR/bin"
    fi
    chmod 0700 "$SSH_PRIVATE_DIR"
    if [ "$have_dir" = yes ]; then
        # Regular files only: agent sockets and subdirectories are not ssh files.
        for f in "$SSH_SOURCE_DIR"/* "$SSH_SOURCE_DIR"/.[!.]*; do
            if [ -f "$f" ]; then copy_readable "$f" "$SSH_PRIVATE_DIR/" "$f"; fi
        done
    fi
    if [ -n "${SSH_KEY_FILE:-}" ]; then
        copy_readable "$SSH_KEY_FILE" "$SSH_PRIVATE_DIR/id_from_ssh_key_file" "SSH_KEY_FILE"
    fi
    touch "$SSH_PRIVATE_DIR/known_hosts"
    for f in "$SSH_PRIVATE_DIR"/* "$SSH_PRIVATE_DIR"/.[!.]*; do
        if [ -f "$f" ]; then chmod 0600 "$f"; fi
    done
    write_ssh_config >"$SSH_PRIVATE_DIR/ssh_config"
    printf '%s\n' "$SSH_SOURCE_DIR" >"$SSH_PRIVATE_DIR/source-dir"

    case $0 in
        /*) self=$0 ;;
        *) self=$(cd "$(dirname "$0")" && pwd)/${0##*/} ;;
    esac
    ln -sf "$self" "$SSH_PRIVATE_DIR/bin/ssh"
    PATH="$SSH_PRIVATE_DIR/bin:$PATH"
    export PATH
    umask 022
}

case $0 in
    */bin/ssh) run_as_ssh "$@" ;;
esac

for var in KVM_HOST PAUSE KAFKA_BOOTSTRAP KAFKA_TOPIC GATHER_HOST_STATS RATES DEBUG; do
    eval "value=\${$var-unset}"
    if [ -z "$value" ]; then unset "$var"; fi
done

prepare_ssh
exec /usr/local/bin/pulse-sensor "$@"
