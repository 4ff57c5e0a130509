#!/bin/sh
# docker-entrypoint.sh — start pulse-sensor in its container.
#
# The sensor reads its own environment (KVM_HOST, PAUSE, KAFKA_BOOTSTRAP, KAFKA_TOPIC,
# GATHER_HOST_STATS, RATES, DEBUG) and flags, so this script passes them through; it only
# unsets the ones that are set but empty (`-e KAFKA_BOOTSTRAP=` in a compose file means
# "not set", i.e. print to stdout) and prepares ssh for qemu+ssh:// URIs. It then execs
# the sensor, which becomes PID 1 and handles SIGTERM itself.
#
# Users: like the official images (postgres, redis), the image starts as root and the
# entrypoint, while still root, copies the ssh keys for the user `pulse` (uid 10001) and then
# drops to it with setpriv, so the sensor and the ssh it starts never run as root. `--user 0`
# cannot be told from that default start (both are uid 0), so it drops too;
# PULSE_RUN_AS_ROOT=true keeps root (a local qemu:///system socket without --group-add).
# Started as another uid (`--user pulse`, `--user 10001`, anything else) it runs as that uid.
# Groups given with --group-add (e.g. the libvirt socket's) are kept across the drop.
#
# ssh: the keys come from a mounted ~/.ssh: the pulse user's, /home/pulse/.ssh, or, when
# started as root, root's, /root/.ssh (the old sensor's `-v /root/.ssh:/root/.ssh`), or from
# one key named by SSH_KEY_FILE. Used in place, such a directory often fails ssh's checks
# (a config file owned by the host user is refused, a key readable by others is ignored,
# root's 0600 keys are unreadable to pulse) and cannot take new known_hosts entries. So its
# regular files (and the key named by SSH_KEY_FILE, if set) are copied to a private
# directory of the sensor's user with mode 0600, and an ssh_config there names those keys and
# that known_hosts, and includes the user's config. A file the running user cannot read stops
# the container with status 2 and a line naming the file and the uid.
# libvirt runs `ssh` from PATH; the first one in PATH is then a symlink to this script,
# which, called as ssh, runs `/usr/bin/ssh -F ssh_config` (a symlink rather than a generated
# script because /run may be mounted noexec). A `keyfile=` URI parameter pointing into the
# mounted ~/.ssh is redirected to the private copy. BatchMode makes a missing key or an
# unknown host fail at once instead of waiting for a prompt; add `no_verify=1` to the URI to
# accept unknown hosts.
# Nothing here prints key material, the URI or any other configuration value.
set -eu

PULSE_USER=pulse
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

die_setting() {
    echo "docker-entrypoint.sh: $*" >&2
    exit 2
}

# The sensor's booleans: true/false, 1/0, yes/no, on/off in any case; unset is false.
run_as_root_requested() {
    case $(printf '%s' "${PULSE_RUN_AS_ROOT:-false}" | tr '[:upper:]' '[:lower:]') in
        true | 1 | yes | on) return 0 ;;
        false | 0 | no | off) return 1 ;;
    esac
    die_setting "invalid PULSE_RUN_AS_ROOT: expected true/false, 1/0, yes/no or on/off"
}

home_of() { getent passwd "$1" | cut -d: -f6; }

has_files() { [ -d "$1" ] && [ -n "$(ls -A "$1" 2>/dev/null)" ]; }

# Where the keys come from. The running user's ~/.ssh, from the passwd database (HOME may be
# unset or wrong under `docker run --user`); when root starts the container for pulse, pulse's
# own ~/.ssh if one is mounted, else root's.
choose_ssh_source_dir() {
    if [ -n "${SSH_SOURCE_DIR:-}" ]; then return 0; fi
    if [ "$drop" = yes ]; then
        SSH_SOURCE_DIR=$(home_of "$PULSE_USER")/.ssh
        has_files "$SSH_SOURCE_DIR" || SSH_SOURCE_DIR=/root/.ssh
        return 0
    fi
    user_home=$(home_of "$(id -u)") || true
    SSH_SOURCE_DIR=${user_home:-${HOME:-/root}}/.ssh
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

# A /root/.ssh mount (the old sensor's `-v /root/.ssh:/root/.ssh`) in a container started as
# another uid: unreadable from here, and /root cannot even be looked into, so the mount table
# tells.
warn_unreadable_root_ssh() {
    [ "$(id -u)" -ne 0 ] || return 0
    [ "$SSH_SOURCE_DIR" != /root/.ssh ] || return 0
    if grep -q ' /root/\.ssh ' /proc/self/mountinfo 2>/dev/null; then
        echo "docker-entrypoint.sh: /root/.ssh is mounted but this container runs as uid" \
            "$(id -u), which cannot read it: start it as root (without --user), which copies" \
            "the keys for pulse, mount them at $SSH_SOURCE_DIR, or name one with SSH_KEY_FILE" >&2
    fi
}

# Only a file this process cannot read is the user's to fix; say which, for which uid.
copy_readable() {
    if [ ! -r "$1" ] || ! cp "$1" "$2"; then
        die_setting "$3 is not readable by uid $(id -u): make it readable by that uid," \
            "or start the container as root (without --user) so that the entrypoint copies" \
            "it for $PULSE_USER"
    fi
}

prepare_ssh() {
    warn_unreadable_root_ssh
    have_dir=no
    if [ -d "$SSH_SOURCE_DIR" ]; then
        if [ ! -r "$SSH_SOURCE_DIR" ] || [ ! -x "$SSH_SOURCE_DIR" ]; then
            die_setting "$SSH_SOURCE_DIR is not readable by uid $(id -u): make it readable by" \
                "that uid, or start the container as root (without --user)"
        fi
        if has_files "$SSH_SOURCE_DIR"; then have_dir=yes; fi
    fi
    if [ "$have_dir" = no ] && [ -z "${SSH_KEY_FILE:-}" ]; then
        return 0
    fi

    # The directory above the private one must be searchable by everyone: libvirt starts ssh
    # without capabilities, so even root must not need them to reach the private directory.
    parent=${SSH_PRIVATE_DIR%/*}
    [ -d "$parent" ] || mkdir -p -m 0755 "$parent" 2>/dev/null || true
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
    # Root copied them; the sensor's user reads them, and ssh adds to known_hosts.
    if [ "$drop" = yes ]; then chown -R "$PULSE_USER:$PULSE_USER" "$SSH_PRIVATE_DIR"; fi

    case $0 in
        /*) self=$0 ;;
        *) self=$(cd "$(dirname "$0")" && pwd)/${0##*/} ;;
    esac
    ln -sf "$self" "$SSH_PRIVATE_DIR/bin/ssh"
    PATH="$SSH_PRIVATE_DIR/bin:$PATH"
    export PATH
    umask 022
}

# pulse's groups plus those the container was started with (--group-add, e.g. the libvirt
# socket's group), except root's group 0.
groups_for_pulse() {
    started_with=$(sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status)
    # shellcheck disable=SC2086 # word splitting of the two lists is intended
    printf '%s\n' $(id -G "$PULSE_USER") $started_with | grep -vx 0 | sort -un | paste -sd, -
}

# Switching users needs CAP_SETUID, CAP_SETGID and CAP_CHOWN (bits 7, 6, 0): without them
# (`--cap-drop ALL`) setpriv would fail with a bare "Operation not permitted".
check_capabilities_to_drop() {
    cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
    if [ $((0x${cap_eff:-0} & 0xc1)) -ne $((0xc1)) ]; then
        die_setting "started as root without CAP_SETUID, CAP_SETGID or CAP_CHOWN, so it cannot" \
            "switch to $PULSE_USER: start it with --user $PULSE_USER (keys at" \
            "$(home_of "$PULSE_USER")/.ssh readable by that uid), or set PULSE_RUN_AS_ROOT=true"
    fi
}

case $0 in
    */bin/ssh) run_as_ssh "$@" ;;
esac

for var in KVM_HOST PAUSE KAFKA_BOOTSTRAP KAFKA_TOPIC GATHER_HOST_STATS RATES DEBUG; do
    eval "value=\${$var-unset}"
    if [ -z "$value" ]; then unset "$var"; fi
done

drop=no
if [ "$(id -u)" -eq 0 ]; then
    if ! run_as_root_requested; then drop=yes; fi
elif run_as_root_requested; then
    echo "docker-entrypoint.sh: PULSE_RUN_AS_ROOT is set, but the container was started as" \
        "uid $(id -u) (--user): running as that uid" >&2
fi
[ "$drop" = no ] || check_capabilities_to_drop
choose_ssh_source_dir
prepare_ssh

# --no-new-privs: neither the sensor nor the ssh it starts has a use for set-uid programs.
if [ "$drop" = yes ]; then
    HOME=$(home_of "$PULSE_USER")
    export HOME
    exec setpriv --reuid="$PULSE_USER" --regid="$PULSE_USER" --groups="$(groups_for_pulse)" \
        --inh-caps=-all --no-new-privs -- /usr/local/bin/pulse-sensor "$@"
fi
exec /usr/local/bin/pulse-sensor "$@"
